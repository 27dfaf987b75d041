package maintenance

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1/maintenancev1connect"
)

// DefaultListen is where a machine in maintenance mode listens: the API
// port on every address, since the machine has no configured address yet.
var DefaultListen = ":" + strconv.Itoa(config.DefaultAPIPort)

// Options configures Serve.
type Options struct {
	// Listen is the address to serve on; "" means DefaultListen.
	Listen string
	// Listener, when set, is served instead of listening on Listen; Serve
	// closes it. Tests pass one on 127.0.0.1:0 to learn its address.
	Listener net.Listener
	// NodeName is the name the machine was booted with (cairn.node=, an
	// environment variable or a flag); empty if none. A request's own
	// node name wins over it.
	NodeName string
	// Mode is how cairnd runs (pid1, container, process), for Version.
	Mode string
	// MACs and Hostname are what the entries' match rules compare with;
	// nil and "" mean this machine's (its interfaces and os.Hostname).
	MACs     []string
	Hostname string
	Logger   *slog.Logger
}

// accepted is the configuration an ApplyConfig call accepted.
type accepted struct {
	doc  []byte
	name string
}

// Serve serves the maintenance API until a valid configuration with an
// entry for this machine has been applied, then returns that document as
// it was sent and the node name that selects its entry (the entry's match
// name, which node.Run's NodeFor matches first). It returns only after the
// accepting call's response was written and the server shut down, so the
// client has its answer before the machine moves on. An error is returned
// when it cannot listen, or ctx ends first; then cfg is nil.
func Serve(ctx context.Context, o Options) (cfg []byte, name string, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "maintenance")
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.MACs == nil {
		o.MACs = network.HardwareAddrs()
	}
	cert, fingerprint, err := selfSigned(o.Hostname, localIPs(), time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("maintenance certificate: %w", err)
	}
	ln := o.Listener
	if ln == nil {
		addr := o.Listen
		if addr == "" {
			addr = DefaultListen
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, "", fmt.Errorf("maintenance listen: %w", err)
		}
	}

	done := make(chan accepted, 1)
	svc := &service{opts: o, log: log}
	srv := &http.Server{
		Handler:           newHandler(svc, done),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	log.Info("maintenance mode: no cluster configuration; waiting for one (cairnctl apply-config --insecure)",
		"addr", ln.Addr().String(), "certificateSHA256", fingerprint, "nodeName", o.NodeName, "hostname", o.Hostname, "macs", o.MACs)

	var got accepted
	select {
	case got = <-done:
	case err = <-serveErr:
		return nil, "", fmt.Errorf("maintenance server: %w", err)
	case <-ctx.Done():
		err = ctx.Err()
	}
	// Shutdown waits for the accepting call's connection to go idle, which
	// is after its response was written; the bound covers a client that
	// stops reading.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
	}
	<-serveErr
	if err != nil {
		return nil, "", err
	}
	log.Info("maintenance mode: configuration applied; booting", "node", got.name)
	return got.doc, got.name, nil
}

// newHandler serves the maintenance service, gRPC health and reflection
// for it, and nothing else: any other path is 404, which gRPC and Connect
// clients see as code unimplemented. When ApplyConfig has accepted a
// configuration, the result goes to done once its handler has returned,
// that is once its response is written.
func newHandler(svc *service, done chan<- accepted) http.Handler {
	mux := http.NewServeMux()
	opts := connect.WithHandlerOptions(connect.WithReadMaxBytes(maxRequestBytes))
	mux.Handle(maintenancev1connect.NewMaintenanceServiceHandler(svc, opts))
	reflector := grpcreflect.NewStaticReflector(maintenancev1connect.MaintenanceServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(maintenancev1connect.MaintenanceServiceName)))
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if a, ok := svc.taken(); ok {
			once.Do(func() { done <- a })
		}
	})
}

// maxRequestBytes bounds a request message: the largest configuration
// document and room for the rest of the request (node/api does the same).
const maxRequestBytes = config.MaxDocumentBytes + 64<<10

// localIPs lists this machine's addresses for the certificate's names.
func localIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			out = append(out, n.IP)
		}
	}
	return out
}
