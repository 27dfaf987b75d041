package supervisor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxCheckOutput bounds how much of an exec check's output is quoted in
// its error.
const maxCheckOutput = 512

// prober runs one process's health checks in a goroutine and reports each
// result (nil when healthy) on results until stopped.
type prober struct {
	results chan error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startProber starts checking h every h.Interval; env and dir are the
// service's, for exec checks, which start through reaper.
func startProber(h *HealthCheck, env []string, dir string, reaper Reaper) *prober {
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{results: make(chan error), cancel: cancel}
	check := newCheck(h, env, dir, reaper)
	p.wg.Go(func() {
		t := time.NewTicker(h.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cctx, ccancel := context.WithTimeout(ctx, h.Timeout)
			err := check(cctx)
			ccancel()
			select {
			case p.results <- err:
			case <-ctx.Done():
				return
			}
		}
	})
	return p
}

// stop ends the checks and waits for the one in flight.
func (p *prober) stop() {
	p.cancel()
	p.wg.Wait()
}

// newCheck returns the probe for h.
func newCheck(h *HealthCheck, env []string, dir string, reaper Reaper) func(context.Context) error {
	switch {
	case len(h.Exec) > 0:
		return func(ctx context.Context) error { return execCheck(ctx, h.Exec, env, dir, reaper) }
	case h.HTTP != "":
		return func(ctx context.Context) error { return httpCheck(ctx, h.HTTP, h.CAFile) }
	}
	return func(ctx context.Context) error { return tcpCheck(ctx, h.TCP) }
}

func execCheck(ctx context.Context, argv, env []string, dir string, reaper Reaper) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Like the service, the check runs in its own group, and a timeout kills
	// the whole group; WaitDelay bounds Wait if a leftover holds the pipe.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := reaper.Start(cmd)
	if err == nil {
		pid := cmd.Process.Pid
		err = cmd.Wait()
		reaper.Release(pid)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > maxCheckOutput {
			msg = msg[:maxCheckOutput] + "..."
		}
		if msg != "" {
			return fmt.Errorf("%w: exec %s: %w: %s", ErrUnhealthy, argv[0], err, msg)
		}
		return fmt.Errorf("%w: exec %s: %w", ErrUnhealthy, argv[0], err)
	}
	return nil
}

// httpTransport does not keep connections: a check every few seconds gains
// nothing from them, and idle ones would outlive the service.
var httpTransport = &http.Transport{DisableKeepAlives: true, Proxy: nil}

func httpCheck(ctx context.Context, url, caFile string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: http: %w", ErrUnhealthy, err)
	}
	rt := httpTransport
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("%w: http: CA: %w", ErrUnhealthy, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: http: CA %s holds no PEM certificate", ErrUnhealthy, caFile)
		}
		rt = httpTransport.Clone()
		rt.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%w: http: %w", ErrUnhealthy, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("%w: http: GET %s: %s", ErrUnhealthy, url, resp.Status)
	}
	return nil
}

func tcpCheck(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: tcp: %w", ErrUnhealthy, err)
	}
	return conn.Close()
}

// onHealth publishes one check result of the process started at started
// and reports whether the service must be restarted: failures (counted
// only after the start period) reached the threshold.
func (r *service) onHealth(err error, started time.Time, failures *int) bool {
	h := r.spec.Health
	var from Status
	st := r.sup.update(r, func(st *Status) {
		from = *st
		switch {
		case err == nil:
			st.Health, st.Message = HealthHealthy, ""
			if st.State == StateStarting {
				st.State, st.Since = StateRunning, time.Now()
			}
		case time.Since(started) < h.StartPeriod:
			st.Message = "in start period: " + err.Error()
		default:
			st.Health, st.Message, st.LastError = HealthUnhealthy, err.Error(), err
		}
	})
	switch {
	case err == nil:
		*failures = 0
	case time.Since(started) >= h.StartPeriod:
		*failures++
	}
	if st.State != from.State {
		r.log.Info("service state changed", "from", from.State.String(), "state", st.State.String(), "pid", st.PID)
	}
	if st.Health != from.Health {
		level := slog.LevelInfo
		if st.Health == HealthUnhealthy {
			level = slog.LevelWarn
		}
		r.log.Log(context.Background(), level, "service health changed",
			"health", st.Health.String(), "state", st.State.String(), "error", err)
	}
	return *failures >= h.FailureThreshold
}
