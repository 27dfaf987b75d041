package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/config"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

// HeaderCallerRoles carries the original caller's roles on a call a node
// forwards or proxies for it. It is believed only from node certificates.
const HeaderCallerRoles = "Cairn-Caller-Roles"

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
	machinev1connect.MachineServiceVersionProcedure:                  levelReader,
	clusterv1connect.ClusterServiceGetConfigProcedure:                levelReader, // secrets: admin, checked in the handler
	clusterv1connect.ClusterServiceWatchConfigProcedure:              levelReader, // likewise
	clusterv1connect.ClusterServiceMembersProcedure:                  levelReader,
	clusterv1connect.ClusterServiceConsensusStatusProcedure:          levelReader,
	clusterv1connect.ClusterServiceApplyConfigProcedure:              levelAdmin,
	resourcev1connect.ResourceServiceGetProcedure:                    levelReader,
	resourcev1connect.ResourceServiceListProcedure:                   levelReader,
	resourcev1connect.ResourceServiceWatchProcedure:                  levelReader,
	servicev1connect.ServiceServiceListProcedure:                     levelReader,
	servicev1connect.ServiceServiceLogsProcedure:                     levelReader,
	servicev1connect.ServiceServiceRestartProcedure:                  levelOperator,
	"/grpc.health.v1.Health/Check":                                   levelReader,
	"/grpc.health.v1.Health/Watch":                                   levelReader,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      levelReader,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": levelReader,
}

var (
	errNoClientCert = errors.New("a client certificate from the cluster CA is required")
	errForbidden    = errors.New("permission denied")
)

type callerKey struct{}

// caller is who a request is for: the roles it acts with.
type caller struct {
	roles []string
	level level
}

func (c caller) can(l level) bool { return c.level >= l }

// callerFrom returns the caller of a request being handled.
func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authenticate works out the caller of r and whether it may call the
// procedure. A node certificate may carry the original caller's roles in
// HeaderCallerRoles (forwarding keeps the caller's role); from anyone else
// the header is ignored.
func authenticate(r *http.Request) (caller, *connect.Error) {
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
	roles := pki.Roles(r.TLS.PeerCertificates[0])
	if slices.Contains(roles, pki.RoleNode) {
		if fwd := r.Header.Get(HeaderCallerRoles); fwd != "" {
			roles = strings.Split(fwd, ",")
		}
	}
	c := caller{roles: roles}
	for _, role := range roles {
		c.level = max(c.level, roleLevels[role])
	}
	if !c.can(need) {
		return c, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: %s needs a higher role than %v", errForbidden, r.URL.Path, roles))
	}
	return c, nil
}

// requireAdmin is the in-handler check for parts of a call (secrets) that
// need more than the procedure does.
func requireAdmin(ctx context.Context, what string) error {
	if callerFrom(ctx).can(levelAdmin) {
		return nil
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: %s needs os:admin", errForbidden, what))
}
