package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

var (
	// ErrNoLeader is returned when a call needs the Raft leader and no
	// leader is known (an election is under way, or quorum is lost).
	ErrNoLeader = errors.New("no raft leader known")
	// ErrUnknownNode is returned when Cairn-Node names a node that gossip
	// does not know or that advertises no API address.
	ErrUnknownNode = errors.New("unknown node")
	// ErrUnknownType is returned by the resource service when a type name
	// matches no type, alias or resource the node has.
	ErrUnknownType = errors.New("unknown resource type")
	// ErrNodeItself is returned when a call treats the node itself
	// (NodeLogName) as a supervised service it is not: restarting it.
	ErrNodeItself = errors.New("cairnd is the node itself, not a supervised service")
	// ErrNoNodeLog is returned by the log level RPCs on a server built
	// without Options.NodeLog.
	ErrNoNodeLog = errors.New("this node does not keep its own log")
	// ErrRecoverNotLeader is returned by EtcdService.Recover on a node that
	// is not the Raft leader: the recovery is the leader's Raft write and
	// the leader restores the snapshot, so the client sends it there.
	ErrRecoverNotLeader = errors.New("etcd recovery must be sent to the raft leader")
	// ErrEtcdHasQuorum is returned by EtcdService.Recover without force
	// while this node's etcd member still follows a leader.
	ErrEtcdHasQuorum = errors.New("etcd still has a quorum")
	// ErrNotEtcdSnapshot is returned by EtcdService.Recover for an upload
	// that is not an etcd snapshot (empty, not a bbolt database, or
	// without etcd's trailing SHA-256).
	ErrNotEtcdSnapshot = errors.New("not an etcd snapshot")
	// ErrRecoveryBusy is returned by EtcdService.Recover while another
	// recovery runs on this node.
	ErrRecoveryBusy = errors.New("another etcd recovery is in progress on this node")
	// ErrKubernetesDisabled is returned by KubernetesOps (and answered as
	// failed_precondition) when the cluster config no longer enables
	// Kubernetes.
	ErrKubernetesDisabled = errors.New("kubernetes is disabled in the cluster config")
	// ErrKubeconfigTTL is returned for a kubeconfig ttl that is negative
	// or, from KubernetesOps, longer than the node signs for (answered as
	// invalid_argument).
	ErrKubeconfigTTL = errors.New("kubeconfig ttl out of range")
	// ErrBadImageArchive is returned by ImportImages for an upload that is
	// no image archive: empty, shorter or longer than its start said, or
	// refused by the container runtime (ImageOps.Import wraps it with the
	// runtime's message). Answered as invalid_argument.
	ErrBadImageArchive = errors.New("not an image archive")
	// ErrImageDigestMismatch is returned by ImportImages when the upload's
	// SHA-256 is not the one its start declared (invalid_argument).
	ErrImageDigestMismatch = errors.New("image archive digest mismatch")
	// ErrImageArchiveTooLarge is returned by ImportImages for an archive
	// above the node's limit (MaxImageArchiveBytes), declared or streamed
	// (resource_exhausted).
	ErrImageArchiveTooLarge = errors.New("image archive too large")
	// ErrRuntimeUnavailable is returned by ImageOps when the container
	// runtime does not answer (not started yet, or stopped): unavailable,
	// so a client may retry.
	ErrRuntimeUnavailable = errors.New("the container runtime does not answer")
)

// toConnect maps an internal error to a Connect error with the right code
// and, for validation and conflicts, machine-readable details.
func toConnect(err error) error {
	if err == nil {
		return nil
	}
	return connectError(err)
}

func connectError(err error) *connect.Error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		out := connect.NewError(connect.CodeInvalidArgument, err)
		detail := &clusterv1.ValidationErrors{}
		for _, v := range ve.Violations {
			detail.Violations = append(detail.Violations, &clusterv1.FieldViolation{Field: v.Field, Description: v.Message})
		}
		if d, derr := connect.NewErrorDetail(detail); derr == nil {
			out.AddDetail(d)
		}
		return out
	}
	var rc *cfgstore.RevisionConflictError
	if errors.As(err, &rc) {
		out := connect.NewError(connect.CodeAborted, err)
		if d, derr := connect.NewErrorDetail(&clusterv1.RevisionConflict{ExpectedRevision: rc.Expected, CurrentRevision: rc.Current}); derr == nil {
			out.AddDetail(d)
		}
		return out
	}
	switch {
	case errors.Is(err, config.ErrInvalid), errors.Is(err, consensus.ErrInvalid),
		errors.Is(err, ErrUnknownType), errors.Is(err, consensus.ErrRequestIDReused):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, consensus.ErrNotLeader), errors.Is(err, ErrNoLeader),
		errors.Is(err, cfgstore.ErrNotSeeded), errors.Is(err, consensus.ErrStopped):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, consensus.ErrCompacted):
		// WatchConfig from a revision older than the retained history.
		return connect.NewError(connect.CodeOutOfRange, err)
	case errors.Is(err, consensus.ErrOutcomeUnknown):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, consensus.ErrNotFound), errors.Is(err, ErrUnknownNode):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, config.ErrTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
