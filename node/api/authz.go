package api

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// HeaderCallerCert carries the original caller's client certificate (DER,
// base64) on a call a node forwards or proxies for it. It is read only from
// node certificates, and only after it verifies against the cluster CA: a
// node can pass on the identity of a caller that called it, but it cannot
// make one up (not even by naming roles, as an earlier design allowed).
const HeaderCallerCert = "Cairn-Caller-Certificate"

// level orders the API roles; each includes the ones below it.
type level int

const (
	levelNone level = iota // no client certificate needed
	levelReader
	levelOperator
	levelAdmin
)

var roleLevels = map[string]level{
	config.APIRoleReader:   levelReader,
	pki.RoleNode:           levelReader, // a node on its own behalf only reads
	config.APIRoleOperator: levelOperator,
	config.APIRoleAdmin:    levelAdmin,
}

// rpcLevels is the one table of who may call what. Procedures not listed
// need admin: new RPCs are closed until someone decides otherwise.
var rpcLevels = map[string]level{
	securityv1connect.SecurityServiceCertificateProcedure:            levelNone,
	securityv1connect.SecurityServiceGenerateClientConfigProcedure:   levelAdmin,
	securityv1connect.SecurityServiceGossipKeyringProcedure:          levelAdmin,
	securityv1connect.SecurityServiceInstallGossipKeyProcedure:       levelAdmin,
	securityv1connect.SecurityServiceUseGossipKeyProcedure:           levelAdmin,
	securityv1connect.SecurityServiceRemoveGossipKeyProcedure:        levelAdmin,
	machinev1connect.MachineServiceVersionProcedure:                  levelReader,
	machinev1connect.MachineServiceGetLogLevelProcedure:              levelReader,
	machinev1connect.MachineServiceSetLogLevelProcedure:              levelOperator,
	machinev1connect.MachineServiceProcessesProcedure:                levelReader,
	machinev1connect.MachineServiceMountsProcedure:                   levelReader,
	machinev1connect.MachineServiceDisksProcedure:                    levelReader,
	machinev1connect.MachineServiceListProcedure:                     levelAdmin, // any file's names and sizes
	machinev1connect.MachineServiceReadProcedure:                     levelAdmin, // any file's bytes, secrets included
	machinev1connect.MachineServiceDmesgProcedure:                    levelReader,
	machinev1connect.MachineServiceRebootProcedure:                   levelAdmin,
	machinev1connect.MachineServiceShutdownProcedure:                 levelAdmin,
	machinev1connect.MachineServiceResetProcedure:                    levelAdmin,  // wipes the node
	clusterv1connect.ClusterServiceGetConfigProcedure:                levelReader, // secrets: admin, checked in the handler
	clusterv1connect.ClusterServiceWatchConfigProcedure:              levelReader, // likewise
	clusterv1connect.ClusterServiceMembersProcedure:                  levelReader,
	clusterv1connect.ClusterServiceConsensusStatusProcedure:          levelReader,
	clusterv1connect.ClusterServiceHealthProcedure:                   levelReader,
	clusterv1connect.ClusterServiceApplyConfigProcedure:              levelAdmin,
	clusterv1connect.ClusterServiceRemoveServerProcedure:             levelAdmin,
	resourcev1connect.ResourceServiceGetProcedure:                    levelReader,
	resourcev1connect.ResourceServiceListProcedure:                   levelReader,
	resourcev1connect.ResourceServiceWatchProcedure:                  levelReader,
	resourcev1connect.ResourceServiceListDefinitionsProcedure:        levelReader,
	servicev1connect.ServiceServiceListProcedure:                     levelReader,
	servicev1connect.ServiceServiceLogsProcedure:                     levelReader,
	servicev1connect.ServiceServiceRestartProcedure:                  levelOperator,
	"/grpc.health.v1.Health/Check":                                   levelReader,
	"/grpc.health.v1.Health/Watch":                                   levelReader,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      levelReader,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": levelReader,

	// Cluster-plane resources: reads for readers (ClusterConfig and
	// EtcdBootstrap are always rendered redacted), writes for admins.
	clusterv1connect.ClusterResourceServiceGetResourceProcedure:             levelReader,
	clusterv1connect.ClusterResourceServiceListResourcesProcedure:           levelReader,
	clusterv1connect.ClusterResourceServiceWatchResourcesProcedure:          levelReader,
	clusterv1connect.ClusterResourceServiceListResourceDefinitionsProcedure: levelReader,
	clusterv1connect.ClusterResourceServiceCreateResourceProcedure:          levelAdmin,
	clusterv1connect.ClusterResourceServiceUpdateResourceProcedure:          levelAdmin,
	clusterv1connect.ClusterResourceServiceDeleteResourceProcedure:          levelAdmin,

	// This node's etcd member. Reads for readers; a snapshot holds every
	// key etcd stores, secrets included: admin. Defragmenting and handing
	// leadership on interrupt service briefly (a defragmenting member
	// serves nothing, an election pauses writes) but change no data and
	// no membership: operator, like restarting a service. Disarming can put
	// a member with corrupt data (CORRUPT) back into service, or let the
	// database grow past its quota (NOSPACE disarmed before space was
	// freed), and membership changes can cost quorum: admin. A recovery
	// replaces the cluster's data with a snapshot's: admin.
	etcdv1connect.EtcdServiceMembersProcedure:           levelReader,
	etcdv1connect.EtcdServiceStatusProcedure:            levelReader,
	etcdv1connect.EtcdServiceAlarmListProcedure:         levelReader,
	etcdv1connect.EtcdServiceSnapshotProcedure:          levelAdmin,
	etcdv1connect.EtcdServiceDefragmentProcedure:        levelOperator,
	etcdv1connect.EtcdServiceForfeitLeadershipProcedure: levelOperator,
	etcdv1connect.EtcdServiceAlarmDisarmProcedure:       levelAdmin,
	etcdv1connect.EtcdServiceLeaveProcedure:             levelAdmin,
	etcdv1connect.EtcdServiceRemoveMemberProcedure:      levelAdmin,
	etcdv1connect.EtcdServiceRecoverProcedure:           levelAdmin,

	// A kubeconfig carries a cluster-admin certificate that cannot be
	// revoked before it expires: admin.
	kubernetesv1connect.KubernetesServiceKubeconfigProcedure: levelAdmin,
	// A node's own kubelet certificate: the table lets readers through
	// (a node's level), the handler lets only a node in, for itself
	// (kubelet_cert.go).
	kubernetesv1connect.KubernetesServiceKubeletCertificateProcedure: levelReader,
	// Importing images changes what the node runs (a name imported again
	// points at the new image): admin. Listing them reads only.
	kubernetesv1connect.KubernetesServiceImportImagesProcedure: levelAdmin,
	kubernetesv1connect.KubernetesServiceListImagesProcedure:   levelReader,
	// Nodes fetch artifacts from each other (their certificates read).
	upgradev1connect.ArtifactServiceUploadProcedure:   levelAdmin,
	upgradev1connect.ArtifactServiceDownloadProcedure: levelReader,
	upgradev1connect.ArtifactServiceListProcedure:     levelReader,
	// An upgrade restarts every node into another binary: admin. Its
	// status is for readers.
	upgradev1connect.UpgradeServiceStartProcedure:    levelAdmin,
	upgradev1connect.UpgradeServiceStatusProcedure:   levelReader,
	upgradev1connect.UpgradeServicePauseProcedure:    levelAdmin,
	upgradev1connect.UpgradeServiceResumeProcedure:   levelAdmin,
	upgradev1connect.UpgradeServiceAbortProcedure:    levelAdmin,
	upgradev1connect.UpgradeServiceRollbackProcedure: levelAdmin,
}

var (
	errNoClientCert = errors.New("a client certificate from the cluster CA is required")
	errForbidden    = errors.New("permission denied")
)

type callerKey struct{}

// caller is who a request is for: the roles it acts with, and the
// certificate they come from (passed on when the call is forwarded).
type caller struct {
	roles []string
	level level
	cert  []byte
	// via is the common name of the node that relayed the call
	// (HeaderCallerCert), empty for a call made directly.
	via string
}

// header is the value of HeaderCallerCert for calls made on c's behalf.
func (c caller) header() string { return base64.StdEncoding.EncodeToString(c.cert) }

func (c caller) can(l level) bool { return c.level >= l }

// subject is the common name of the caller's certificate, for logs; empty
// without one.
func (c caller) subject() string {
	cert, err := x509.ParseCertificate(c.cert)
	if err != nil {
		return ""
	}
	return cert.Subject.CommonName
}

// rolesText lists the caller's roles for an error message.
func (c caller) rolesText() string {
	if len(c.roles) == 0 {
		return "no role"
	}
	return strings.Join(c.roles, ", ")
}

// String returns the least role that grants l, as error messages name it.
func (l level) String() string {
	switch l {
	case levelNone:
		return "no role"
	case levelReader:
		return config.APIRoleReader
	case levelOperator:
		return config.APIRoleOperator
	}
	return config.APIRoleAdmin
}

// callerFrom returns the caller of a request being handled.
func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authenticate works out the caller of r and whether it may call the
// procedure. A call relayed by a node (forwarding to the leader, Cairn-Node
// proxying) carries the original caller's certificate in HeaderCallerCert;
// the caller is then that certificate, verified against the cluster CA, so
// the caller's role survives the hop and the relaying node adds none of its
// own. From anyone but a node the header is ignored.
func authenticate(r *http.Request, roots *x509.CertPool) (caller, *connect.Error) {
	need, known := rpcLevels[r.URL.Path]
	if !known {
		need = levelAdmin
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		if need == levelNone {
			return caller{}, nil
		}
		return caller{}, connect.NewError(connect.CodeUnauthenticated, errNoClientCert)
	}
	cert, via := r.TLS.PeerCertificates[0], ""
	if fwd := r.Header.Get(HeaderCallerCert); fwd != "" && slices.Contains(pki.Roles(cert), pki.RoleNode) {
		relayed, err := relayedCaller(fwd, roots)
		if err != nil {
			return caller{}, connect.NewError(connect.CodeUnauthenticated, err)
		}
		via, cert = cert.Subject.CommonName, relayed
	}
	c := caller{roles: pki.Roles(cert), cert: cert.Raw, via: via}
	for _, role := range c.roles {
		c.level = max(c.level, roleLevels[role])
	}
	if !c.can(need) {
		return c, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: %s needs %s; the caller has %s",
			errForbidden, path.Base(r.URL.Path), need, c.rolesText()))
	}
	return c, nil
}

// relayedCaller decodes and verifies a relayed caller certificate.
func relayedCaller(header string, roots *x509.CertPool) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return nil, fmt.Errorf("relayed caller certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("relayed caller certificate: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("relayed caller certificate: %w", err)
	}
	return cert, nil
}

// requireAdmin is the in-handler check for parts of a call (secrets) that
// need more than the procedure does.
func requireAdmin(ctx context.Context, what string) error {
	if callerFrom(ctx).can(levelAdmin) {
		return nil
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: %s needs %s; the caller has %s",
		errForbidden, what, levelAdmin, callerFrom(ctx).rolesText()))
}
