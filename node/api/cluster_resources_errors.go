package api

import (
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/resources"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// resourceProto renders a stored resource for readers, its spec through
// the type's view (the cluster configuration redacted).
func resourceProto(d resources.Definition, r consensus.Resource) (*clusterv1.Resource, error) {
	spec, err := d.View(r.Spec)
	if err != nil {
		return nil, err
	}
	return &clusterv1.Resource{
		Type: r.Type, Id: r.ID, Version: r.Version, SpecYaml: string(spec),
		CreateRevision: r.CreateRevision, UpdateRevision: r.UpdateRevision,
	}, nil
}

// clusterResourceError maps the registry's and the store's errors to
// Connect codes with machine-readable details; the rest falls to the
// package-wide mapping.
//
// A write of a read-only type is failed_precondition, not
// permission_denied: no role makes it succeed, the type is written by its
// own RPC (the message names it).
func clusterResourceError(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var ve *resources.ValidationError
	if errors.As(err, &ve) {
		detail := &clusterv1.ValidationErrors{}
		for _, v := range ve.Violations {
			detail.Violations = append(detail.Violations, &clusterv1.FieldViolation{Field: v.Field, Description: v.Message})
		}
		return withDetail(connect.NewError(connect.CodeInvalidArgument, err), detail)
	}
	var conflict *consensus.ConflictError
	if errors.As(err, &conflict) {
		return withDetail(connect.NewError(connect.CodeAborted, err), &clusterv1.VersionConflict{
			Type: conflict.Type, Id: conflict.ID, ExpectedVersion: conflict.ExpectedVersion,
			CurrentVersion: conflict.CurrentVersion, Exists: conflict.Exists,
		})
	}
	var compacted *consensus.CompactedError
	if errors.As(err, &compacted) {
		return withDetail(connect.NewError(connect.CodeOutOfRange, err), &clusterv1.RevisionCompacted{
			RequestedRevision: compacted.Requested, OldestRevision: compacted.Oldest,
		})
	}
	switch {
	case errors.Is(err, resources.ErrUnknownType):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, resources.ErrReadOnly):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return toConnect(err)
}

func withDetail(err *connect.Error, msg proto.Message) *connect.Error {
	if d, derr := connect.NewErrorDetail(msg); derr == nil {
		err.AddDetail(d)
	}
	return err
}
