// Command echo is Cairn's test application, packed as cairn.local/echo:
// an HTTP server whose GET / answers with the pod's hostname and IP (so a
// test sees which pod served it, through a Service too) and whose
// GET /healthz answers ok, for probes.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set with -ldflags by rootfs/images.
var version = "dev"

func main() {
	if len(os.Args) == 3 && os.Args[1] == "get" {
		// The image has no shell and no curl: `echo get URL` is the
		// client a test runs in a pod (kubectl exec) to reach another.
		os.Exit(fetch(os.Args[2]))
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	listen := flag.String("listen", ":"+port, "address to listen on ($PORT sets the port of the default)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "echo")
	if err := run(log, *listen); err != nil {
		log.Error("echo failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, listen string) error {
	hostname, err := os.Hostname()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(hostname, podIP(), version), ReadHeaderTimeout: 10 * time.Second}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		_ = srv.Close()
	}()
	// The address is logged after Listen, so a caller of --listen :0
	// learns the port from it.
	log.Info("listening", "addr", ln.Addr().String(), "version", version)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler serves / (hostname, pod IP and version, one "key: value" a
// line) and /healthz ("ok").
func handler(hostname, ip, version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hostname: %s\npod-ip: %s\nversion: %s\n", hostname, ip, version)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// podIP is $POD_IP (the downward API's status.podIP), else the first
// address of an interface that is up and not loopback, else "".
func podIP() string {
	if ip := os.Getenv("POD_IP"); ip != "" {
		return ip
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}

// fetch prints the body of GET url and returns 0, or prints the error and
// returns 1 (also for a status other than 200).
func fetch(url string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo get:", err)
		return 1
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo get:", err)
		return 1
	}
	os.Stdout.Write(body)
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "echo get:", res.Status)
		return 1
	}
	return 0
}
