package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/resources"
	"github.com/cairn-project/cairn/node/machine/artifacts"
	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/node/runtime"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// Headers the API understands.
const (
	// HeaderNode names the node a request is meant for; any node proxies
	// it there (cairnctl --nodes).
	HeaderNode = "Cairn-Node"
	// HeaderForwarded marks a call forwarded to the leader, so a stale
	// leader hint cannot make two nodes forward to each other forever.
	HeaderForwarded = "Cairn-Forwarded"
)

// Options configures a Server.
type Options struct {
	NodeName string
	Mode     string // pid1, container, process
	Slot     string
	// ControlPlane says this node is a control plane: it holds a Replica
	// and serves cluster reads and writes itself (or forwards them to the
	// leader); a worker forwards them to a control plane.
	ControlPlane bool
	// Replica is the Raft store; required on a control plane, nil on a
	// worker.
	Replica Replica
	// Membership is the node's gossip view. Required.
	Membership Membership
	// ClusterResources are the cluster-plane resource types served by
	// cairn.cluster.v1.ClusterResourceService; nil serves the built-in ones
	// (resources.Default). Tests register their own types here.
	ClusterResources *resources.Registry
	// Resources is the node's controller state, served read-only by
	// cairn.resource.v1; nil leaves that service off.
	Resources *runtime.State
	// Services is the node's process supervisor, served by cairn.service.v1;
	// nil leaves that service off.
	Services *supervisor.Supervisor
	// Identity is this node's certificate: the API's server certificate and
	// its client certificate towards other nodes. Required.
	Identity *pki.Identity
	// CA is the cluster CA with its key, on control planes only: they sign
	// joining nodes' certificates and mint client configurations.
	CA *config.CertKeyPair
	// JoinToken authenticates certificate requests from joining nodes.
	JoinToken string
	// Keyring is the node's gossip keyring, managed by the keyring RPCs.
	Keyring GossipKeyring
	// LeaderHold is how long a call that needs the leader waits for one to
	// be found before failing (default 5s; see forward).
	LeaderHold time.Duration
	// NodeLog is the node's own log: served by cairn.service.v1 as the
	// service NodeLogName, its level by cairn.machine.v1's log level RPCs.
	// Nil leaves them off.
	NodeLog NodeLog
	// Etcd is this node's etcd member, served by cairn.etcd.v1 (*etcd.Ops);
	// nil, on a node that never runs etcd, answers failed_precondition.
	Etcd EtcdOps
	// Kubernetes hands out admin kubeconfigs through cairn.kubernetes.v1
	// on a control plane with Kubernetes enabled; nil (a worker, or
	// Kubernetes disabled) answers failed_precondition.
	Kubernetes KubernetesOps
	// KubeCA is the Kubernetes CA with its key, on control planes that
	// have one (secrets.kubernetesCA): they sign every node's kubelet
	// client certificate (KubeletCertificate). Nil on workers, which
	// forward that call to a control plane.
	KubeCA *config.CertKeyPair
	// Images is this node's container runtime (containerd, namespace
	// k8s.io), served by KubernetesService's ImportImages and ListImages;
	// nil (process mode: no runtime) answers failed_precondition.
	Images ImageOps
	// ImageUploadDir is where ImportImages stores an archive until it is
	// imported (under the state directory: uploads may be gigabytes, more
	// than a tmpfs /tmp holds); empty is the system's temporary directory.
	ImageUploadDir string
	// MaxImageArchive bounds an ImportImages upload; 0 is
	// MaxImageArchiveBytes. Tests lower it.
	MaxImageArchive int64
	// Artifacts is the node's artifact store (STATE/artifacts), served by
	// cairn.upgrade.v1.ArtifactService; nil answers failed_precondition.
	Artifacts *artifacts.Store
	// Upgrades runs the rolling upgrade (UpgradeService) when this node
	// leads; nil on a worker, and a control plane without it refuses with
	// failed_precondition.
	Upgrades UpgradeOps
	// EtcdRecovery serves EtcdService.Recover on a control plane that runs
	// etcd; nil refuses it with failed_precondition.
	EtcdRecovery *EtcdRecovery
	// Power carries out Reboot, Shutdown and Reset; nil refuses them with
	// code unimplemented.
	Power Power
	// BootID identifies this start of the node (Version's boot_id): the
	// kernel's boot ID in pid1 mode, a random ID per cairnd start
	// otherwise.
	BootID string
	// StateID is the ID of the node's state directory, which Reset wipes
	// (ResetResponse.state_id).
	StateID string
	// Kmsg is the kernel message device Dmesg reads; empty is /dev/kmsg.
	Kmsg string
	// Host is where the machine info RPCs (Processes, Mounts, Disks, List,
	// Read) read /proc, /sys and files; the zero value is the real root.
	Host   Host
	Logger *slog.Logger
}

// Server is one node's API.
type Server struct {
	opts    Options
	log     *slog.Logger
	replica Replica // nil unless opts.ControlPlane
	members Membership
	mux     *http.ServeMux
	peers   *http.Transport // TLS, HTTP/2, this node's certificate
	http    *http.Server
	mu      sync.Mutex
	clients map[string]clusterv1connect.ClusterServiceClient
	configs cfgstore.Cache // the last config read, decoded and rendered
	// stopCalls cancels the context of every running call (Shutdown).
	stopCalls context.CancelFunc
	// unreachable are the nodes forwarding tries last for a while.
	unreachable unreachable
}

// New builds the server; Serve starts it.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: opts, log: log.With("component", "api"), members: opts.Membership,
		mux: http.NewServeMux(), clients: map[string]clusterv1connect.ClusterServiceClient{},
	}
	if opts.ControlPlane {
		s.replica = opts.Replica
	}
	s.peers = &http.Transport{
		TLSClientConfig: opts.Identity.ClientTLS(), ForceAttemptHTTP2: true, IdleConnTimeout: time.Minute,
		// A paused peer accepts TCP connections (the kernel does) but never
		// finishes a handshake: bound both, or a new connection hangs.
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSHandshakeTimeout: 2 * time.Second,
		// A peer that stops answering (paused, cut off) is noticed by pings
		// within about two seconds, ending relayed watches so the watcher
		// moves to another control plane, and ending a forwarded call whose
		// target's replacement is not yet known from gossip.
		HTTP2: &http.HTTP2Config{SendPingTimeout: time.Second, PingTimeout: time.Second},
	}

	services := []string{machinev1connect.MachineServiceName, clusterv1connect.ClusterServiceName}
	// Messages are small (a config is a few KiB) and mostly cross a LAN:
	// compressing each one cost more CPU than it saved (gzip was most of
	// GetConfig's time). Large messages (logs, big lists) still compress.
	handlerOpts := connect.WithHandlerOptions(connect.WithCompressMinBytes(32<<10), requestLimits())
	s.mux.Handle(machinev1connect.NewMachineServiceHandler(&machineService{s: s}, handlerOpts))
	s.mux.Handle(clusterv1connect.NewClusterServiceHandler(&clusterService{s: s}, handlerOpts))
	s.mux.Handle(newClusterResourceHandler(s, opts.ClusterResources, handlerOpts))
	services = append(services, clusterv1connect.ClusterResourceServiceName)
	if opts.Services != nil {
		s.mux.Handle(NewServiceHandler(opts.Services, ServiceHandlerOptions{NodeLog: opts.NodeLog, Logger: s.log}, handlerOpts))
		services = append(services, servicev1connect.ServiceServiceName)
	}
	s.mux.Handle(newEtcdHandler(opts.Etcd, opts.EtcdRecovery, handlerOpts))
	services = append(services, etcdv1connect.EtcdServiceName)
	s.mux.Handle(kubernetesv1connect.NewKubernetesServiceHandler(&kubernetesService{ops: opts.Kubernetes, log: s.log, s: s,
		images: newImageService(opts.Images, opts.ImageUploadDir, opts.MaxImageArchive)}, handlerOpts))
	services = append(services, kubernetesv1connect.KubernetesServiceName)
	s.mux.Handle(upgradev1connect.NewArtifactServiceHandler(&artifactService{store: opts.Artifacts, s: s}, handlerOpts))
	services = append(services, upgradev1connect.ArtifactServiceName)
	s.mux.Handle(upgradev1connect.NewUpgradeServiceHandler(&upgradeService{ops: opts.Upgrades, s: s}, handlerOpts))
	services = append(services, upgradev1connect.UpgradeServiceName)
	s.mux.Handle(securityv1connect.NewSecurityServiceHandler(&securityService{s: s}, handlerOpts))
	services = append(services, securityv1connect.SecurityServiceName)
	if opts.Resources != nil {
		s.mux.Handle(NewResourceHandler(opts.Resources))
		services = append(services, resourcev1connect.ResourceServiceName)
	}
	reflector := grpcreflect.NewStaticReflector(services...)
	s.mux.Handle(grpcreflect.NewHandlerV1(reflector))
	s.mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	s.mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(services...)))

	base, stopCalls := context.WithCancel(context.Background())
	s.stopCalls = stopCalls
	s.http = &http.Server{
		Handler: s.Handler(), TLSConfig: opts.Identity.ServerTLS(),
		// The handshake's deadline is ReadHeaderTimeout's (net/http).
		ReadHeaderTimeout: HandshakeTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes,
		HTTP2:       &http.HTTP2Config{MaxConcurrentStreams: MaxConcurrentStreams},
		BaseContext: func(net.Listener) context.Context { return base },
	}
	return s
}

// Handler is the whole API as an http.Handler: authentication and the
// role check from one table (authz.go), then node routing, then services.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, cerr := authenticate(r, s.opts.Identity.Pool())
		if cerr != nil {
			writeConnectError(w, r, cerr)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		if target := r.Header.Get(HeaderNode); target != "" && target != s.opts.NodeName {
			s.proxyToNode(w, r, target)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Serve serves HTTPS on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("serving node API", "addr", ln.Addr().String())
	err := s.http.ServeTLS(newLimitListener(ln, MaxConnections), "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting calls and waits for running ones until ctx ends.
//
// Watches and log follows never finish on their own, and http.Server's
// Shutdown waits for every call: after shutdownGrace for unary calls to
// finish, the calls still running are cancelled, so a node with a watcher
// (every worker watches a control plane's config) stops at once instead of
// waiting out ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.peers.CloseIdleConnections()
	done := make(chan error, 1)
	go func() { done <- s.http.Shutdown(ctx) }()
	select {
	case err := <-done:
		s.stopCalls()
		return err
	case <-time.After(shutdownGrace):
	}
	s.stopCalls()
	return <-done
}

// shutdownGrace is how long Shutdown lets running calls finish.
const shutdownGrace = 500 * time.Millisecond

// proxyToNode sends the whole request to another node (any RPC, streams
// included) and relays its answer.
func (s *Server) proxyToNode(w http.ResponseWriter, r *http.Request, name string) {
	addr, err := s.memberAPI(name)
	if err != nil {
		writeConnectError(w, r, connectError(err))
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "https", Host: addr})
			pr.Out.Header.Del(HeaderNode)
			pr.Out.Header.Set(HeaderCallerCert, callerFrom(r.Context()).header())
			pr.Out.Host = addr
		},
		Transport:     s.peers,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeConnectError(w, r, connect.NewError(connect.CodeUnavailable, fmt.Errorf("proxy to node %s at %s: %w", name, addr, err)))
		},
	}
	rp.ServeHTTP(w, r)
}

// writeConnectError answers a request that never reached a handler.
func writeConnectError(w http.ResponseWriter, r *http.Request, err *connect.Error) {
	ew := connect.NewErrorWriter()
	if ew.IsSupported(r) {
		_ = ew.Write(w, r, err)
		return
	}
	http.Error(w, err.Error(), http.StatusBadGateway)
}

// memberAPI returns the API address a node advertises in gossip.
func (s *Server) memberAPI(name string) (string, error) {
	if m, ok := s.members.Member(name); ok && m.Meta.APIAddr.IsValid() {
		return m.Meta.APIAddr.String(), nil
	}
	return "", fmt.Errorf("%w: %s", ErrUnknownNode, name)
}

// isLeader reports whether this node can serve leader-only calls itself.
func (s *Server) isLeader() bool { return s.opts.ControlPlane && s.replica.IsLeader() }
