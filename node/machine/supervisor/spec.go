package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// Defaults applied by Supervisor.Add to zero fields of a Spec.
const (
	DefaultStopTimeout      = 10 * time.Second
	DefaultBackoffInitial   = time.Second
	DefaultBackoffMax       = 30 * time.Second
	DefaultBackoffMinUptime = 10 * time.Second
	DefaultHealthInterval   = 5 * time.Second
	DefaultHealthTimeout    = 2 * time.Second
	DefaultFailureThreshold = 3
)

// RestartPolicy says what happens when a service's process exits.
type RestartPolicy int

const (
	// RestartAlways starts the process again after every exit, successful
	// or not, after a backoff delay. It is the zero value: node services
	// such as etcd and kubelet are meant to run forever.
	RestartAlways RestartPolicy = iota
	// RestartOnce runs the process once: the service ends Finished if it
	// exits with code 0 and Failed otherwise.
	RestartOnce
	// RestartUntilSuccess restarts the process (with backoff) until it exits
	// with code 0, then leaves the service Finished: for setup tasks that may
	// have to wait for something.
	RestartUntilSuccess
)

// String returns the policy's name as used in logs.
func (p RestartPolicy) String() string {
	switch p {
	case RestartAlways:
		return "always"
	case RestartOnce:
		return "once"
	case RestartUntilSuccess:
		return "until-success"
	}
	return fmt.Sprintf("RestartPolicy(%d)", int(p))
}

// Spec describes one service. Zero durations and thresholds take the
// package defaults.
type Spec struct {
	// Name identifies the service and names its log file: lowercase
	// letters, digits, '.', '_' and '-', at most 63 characters.
	Name string
	// Path is the absolute path of the program; it is not looked up in PATH.
	Path string
	// Args are the program's arguments, without the program name.
	Args []string
	// Env is the process's whole environment as KEY=value pairs; nothing is
	// inherited from the supervisor, so a node service sees exactly what its
	// spec says. Exec health checks run with the same environment.
	Env []string
	// Dir is the working directory; empty means the supervisor's.
	Dir string
	// Restart is the restart policy.
	Restart RestartPolicy
	// DependsOn names services that must be running and healthy (see
	// Status.Ready) before this one starts. A service stays Waiting while a
	// dependency is missing. Dependencies only gate starts: a dependency that
	// fails later does not stop its dependents.
	DependsOn []string
	// Condition, if set, must return nil before the service starts; it is
	// called again every Options.ConditionInterval while it returns an
	// error, e.g. to wait for a file. It may also block until the condition
	// holds, but must return when ctx ends (the service was stopped).
	Condition func(ctx context.Context) error
	// Health, if set, is checked while the process runs; see HealthCheck.
	Health *HealthCheck
	// StopTimeout is how long a stop waits after SIGTERM before it sends
	// SIGKILL to the process group.
	StopTimeout time.Duration
	// Backoff paces restarts after exits and failed health checks.
	Backoff Backoff
}

// HealthCheck probes a running process. Exactly one of Exec, HTTP and TCP
// is set. A process whose check fails FailureThreshold times in a row,
// after StartPeriod, is stopped and restarted according to the service's
// restart policy.
type HealthCheck struct {
	// Exec is a command (absolute path first) that exits 0 when healthy.
	Exec []string
	// HTTP is a URL whose GET answers 2xx or 3xx when healthy.
	HTTP string
	// CAFile, for an https HTTP check, is a PEM file of the CA the
	// server's certificate must chain to (read at each check, so a
	// renewed CA is picked up); empty means the system's roots.
	CAFile string
	// TCP is a host:port that accepts connections when healthy.
	TCP string
	// Interval is the time between checks; the first runs one interval
	// after the process starts.
	Interval time.Duration
	// Timeout bounds each check.
	Timeout time.Duration
	// FailureThreshold is how many consecutive failures make the service
	// restart.
	FailureThreshold int
	// StartPeriod is a grace period after the process starts during which
	// failures are reported but not counted.
	StartPeriod time.Duration
}

// Backoff is an exponential restart delay: Initial, doubling after each
// restart up to Max, and back to Initial once a process has stayed up for
// MinUptime. The sequence is internal/backoff's, shared with the runtime,
// the boot stage, gossip and consensus.
type Backoff struct {
	Initial   time.Duration
	Max       time.Duration
	MinUptime time.Duration
}

// sequence returns the restart delays as a fresh backoff.Backoff.
func (b Backoff) sequence() backoff.Backoff {
	return backoff.Backoff{Initial: b.Initial, Max: b.Max}
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// normalize returns a copy of s with defaults applied and slices cloned,
// or an ErrInvalidSpec error.
func (s Spec) normalize() (Spec, error) {
	s.Args, s.Env, s.DependsOn = slices.Clone(s.Args), slices.Clone(s.Env), slices.Clone(s.DependsOn)
	if s.StopTimeout == 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if s.Backoff.Initial == 0 {
		s.Backoff.Initial = DefaultBackoffInitial
	}
	if s.Backoff.Max == 0 {
		s.Backoff.Max = max(DefaultBackoffMax, s.Backoff.Initial)
	}
	if s.Backoff.MinUptime == 0 {
		s.Backoff.MinUptime = DefaultBackoffMinUptime
	}
	if s.Health != nil {
		h := *s.Health
		h.Exec = slices.Clone(h.Exec)
		if h.Interval == 0 {
			h.Interval = DefaultHealthInterval
		}
		if h.Timeout == 0 {
			h.Timeout = DefaultHealthTimeout
		}
		if h.FailureThreshold == 0 {
			h.FailureThreshold = DefaultFailureThreshold
		}
		s.Health = &h
	}
	if err := s.validate(); err != nil {
		return Spec{}, fmt.Errorf("%w: service %q: %w", ErrInvalidSpec, s.Name, err)
	}
	return s, nil
}

func (s Spec) validate() error {
	switch {
	case !namePattern.MatchString(s.Name):
		return fmt.Errorf("name must match %s", namePattern)
	case !filepath.IsAbs(s.Path):
		return fmt.Errorf("path %q is not absolute", s.Path)
	case s.Restart < RestartAlways || s.Restart > RestartUntilSuccess:
		return fmt.Errorf("unknown restart policy %d", int(s.Restart))
	case s.StopTimeout < 0 || s.Backoff.Initial < 0 || s.Backoff.MinUptime < 0:
		return errors.New("durations must not be negative")
	case s.Backoff.Max < s.Backoff.Initial:
		return fmt.Errorf("backoff max %s is below initial %s", s.Backoff.Max, s.Backoff.Initial)
	case slices.Contains(s.DependsOn, s.Name):
		return errors.New("depends on itself")
	}
	if s.Health != nil {
		if err := s.Health.validate(); err != nil {
			return fmt.Errorf("health check: %w", err)
		}
	}
	return nil
}

func (h *HealthCheck) validate() error {
	set := 0
	for _, ok := range []bool{len(h.Exec) > 0, h.HTTP != "", h.TCP != ""} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("exactly one of exec, http and tcp must be set, got %d", set)
	}
	switch {
	case len(h.Exec) > 0 && !filepath.IsAbs(h.Exec[0]):
		return fmt.Errorf("exec path %q is not absolute", h.Exec[0])
	case h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.FailureThreshold < 0:
		return errors.New("durations and threshold must not be negative")
	}
	if h.HTTP != "" {
		u, err := url.Parse(h.HTTP)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("http: %q is not an http(s) URL", h.HTTP)
		}
	}
	if h.CAFile != "" && (h.HTTP == "" || !filepath.IsAbs(h.CAFile)) {
		return fmt.Errorf("caFile %q needs an https check and an absolute path", h.CAFile)
	}
	if h.TCP != "" {
		if _, _, err := net.SplitHostPort(h.TCP); err != nil {
			return fmt.Errorf("tcp: %w", err)
		}
	}
	return nil
}
