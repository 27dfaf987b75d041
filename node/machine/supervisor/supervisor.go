package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultLogMaxSize      = 10 << 20
	DefaultLogMaxFiles     = 3
	DefaultLogBufferLines  = 1000
	DefaultConditionPeriod = time.Second
)

// Options configures a Supervisor. Zero fields take the defaults above.
type Options struct {
	// Logger receives the supervisor's events; nil discards them.
	Logger *slog.Logger
	// LogDir holds one log file per service, <name>.log, rotated to
	// <name>.log.1 and on. Empty keeps logs in memory only.
	LogDir string
	// LogMaxSize is the size in bytes at which a log file is rotated.
	LogMaxSize int64
	// LogMaxFiles is how many rotated files are kept besides the current
	// one.
	LogMaxFiles int
	// LogBufferLines is how many recent lines per service Logs can tail.
	LogBufferLines int
	// ConditionInterval is how often a failing Spec.Condition is retried.
	ConditionInterval time.Duration
	// Reaper, when set, is the orphan reaper of this process (cairnd as
	// PID 1: pid1.Reaper). Every child the supervisor starts, services and
	// exec health checks alike, is started through it, so the reaper
	// never collects an exit status that the supervisor waits for. Nil:
	// nothing else in this process waits for children.
	Reaper Reaper
}

// Reaper is an orphan reaper running in the supervisor's process. A blanket
// wait would steal a supervised child's exit status (the child's Wait then
// fails with ECHILD), so the supervisor registers its children with it.
type Reaper interface {
	// Start starts cmd such that the reaper leaves its process alone, even
	// if it exits before Start returns, until Release.
	Start(cmd *exec.Cmd) error
	// Release hands pid back to the reaper once cmd.Wait has collected its
	// exit status.
	Release(pid int)
}

// plainStart starts children when there is no Reaper.
type plainStart struct{}

func (plainStart) Start(cmd *exec.Cmd) error { return cmd.Start() }
func (plainStart) Release(int)               {}

// phase of a Supervisor's one run.
type runPhase int

const (
	phaseIdle runPhase = iota
	phaseRunning
	phaseStopping
	phaseClosed
)

// Supervisor runs services; see the package documentation. Its methods are
// safe for concurrent use.
type Supervisor struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	services map[string]*service
	changed  chan struct{} // closed and replaced on every status change
	phase    runPhase
	runCtx   context.Context
	runners  sync.WaitGroup
}

// New returns a Supervisor with no services; Add them, then Run it.
func New(opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogMaxSize <= 0 {
		opts.LogMaxSize = DefaultLogMaxSize
	}
	if opts.LogMaxFiles <= 0 {
		opts.LogMaxFiles = DefaultLogMaxFiles
	}
	if opts.LogBufferLines <= 0 {
		opts.LogBufferLines = DefaultLogBufferLines
	}
	if opts.ConditionInterval <= 0 {
		opts.ConditionInterval = DefaultConditionPeriod
	}
	if opts.Reaper == nil {
		opts.Reaper = plainStart{}
	}
	return &Supervisor{
		opts: opts, log: opts.Logger.With("component", "supervisor"),
		services: map[string]*service{}, changed: make(chan struct{}),
	}
}

// Add registers a service, which starts as soon as Run runs and its
// dependencies are ready (at once if Run is already running). Its
// dependencies need not be added yet.
func (s *Supervisor) Add(spec Spec) error {
	spec, err := spec.normalize()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase >= phaseStopping {
		return ErrClosed
	}
	if _, ok := s.services[spec.Name]; ok {
		return fmt.Errorf("add %s: %w", spec.Name, ErrExists)
	}
	if path := s.cycleLocked(spec); path != nil {
		return fmt.Errorf("add %s: %w: %s", spec.Name, ErrDependencyCycle, strings.Join(path, " -> "))
	}
	log := s.log.With("service", spec.Name)
	var file *rotatingFile
	if s.opts.LogDir != "" {
		file = newRotatingFile(filepath.Join(s.opts.LogDir, spec.Name+".log"), s.opts.LogMaxSize, s.opts.LogMaxFiles)
	}
	svc := newService(s, spec, log, newLogSink(log, file, s.opts.LogBufferLines))
	s.services[spec.Name] = svc
	s.notifyLocked()
	if s.phase == phaseRunning {
		s.spawnLocked(svc)
	}
	return nil
}

// cycleLocked returns a dependency cycle through the new spec, or nil.
func (s *Supervisor) cycleLocked(spec Spec) []string {
	deps := func(name string) []string {
		if name == spec.Name {
			return spec.DependsOn
		}
		if svc, ok := s.services[name]; ok {
			return svc.spec.DependsOn
		}
		return nil
	}
	var walk func(name string, path []string) []string
	walk = func(name string, path []string) []string {
		for _, d := range deps(name) {
			if d == spec.Name {
				return append(path, d)
			}
			if !slices.Contains(path, d) {
				if c := walk(d, append(path, d)); c != nil {
					return c
				}
			}
		}
		return nil
	}
	return walk(spec.Name, []string{spec.Name})
}

// Start starts a stopped, finished or failed service (resetting its
// backoff); a service that is already active is left alone.
func (s *Supervisor) Start(name string) error { return s.command(name, cmdStart) }

// Stop stops a service and keeps it stopped until Start or Restart. It
// returns once the process, if any, has exited: after SIGTERM, or SIGKILL
// once StopTimeout has passed. Services that depend on it keep running.
func (s *Supervisor) Stop(name string) error { return s.command(name, cmdStop) }

// Restart stops the service's process, if any, and starts the service
// again without backoff. It returns once the old process has exited.
func (s *Supervisor) Restart(name string) error { return s.command(name, cmdRestart) }

func (s *Supervisor) command(name string, kind cmdKind) error {
	s.mu.Lock()
	svc, ok := s.services[name]
	running := s.phase == phaseRunning
	s.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("%s %s: %w", kind, name, ErrNotFound)
	case !running:
		return fmt.Errorf("%s %s: %w", kind, name, ErrNotRunning)
	}
	if err := svc.send(kind, ""); err != nil {
		return fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return nil
}

// Status returns a snapshot of one service.
func (s *Supervisor) Status(name string) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[name]
	if !ok {
		return Status{}, fmt.Errorf("status %s: %w", name, ErrNotFound)
	}
	return svc.status, nil
}

// List returns a snapshot of every service, ordered by name.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.services))
	for _, name := range slices.Sorted(maps.Keys(s.services)) {
		out = append(out, s.services[name].status)
	}
	return out
}

// Logs returns a service's output as lines: the last tailLines buffered
// lines (every buffered line if tailLines < 0, none if 0), then, with
// follow, each new line, across restarts, until cancel is called or the
// supervisor stops. The channel is closed at the end; cancel must be
// called to release a follow and may be called more than once.
func (s *Supervisor) Logs(name string, follow bool, tailLines int) (<-chan string, func(), error) {
	s.mu.Lock()
	svc, ok := s.services[name]
	s.mu.Unlock()
	if !ok {
		return nil, nil, fmt.Errorf("logs %s: %w", name, ErrNotFound)
	}
	lines, cancel := svc.out.subscribe(tailLines, follow)
	return lines, cancel, nil
}

// Run starts every service and supervises them until ctx ends, then stops
// them in reverse dependency order (a service stops only after every
// service that depends on it has stopped) and returns nil once every
// process is reaped. Run may be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.phase != phaseIdle {
		s.mu.Unlock()
		return ErrClosed
	}
	s.phase = phaseRunning
	// Runners outlive ctx: the orderly stop below drives them first.
	runCtx, cancelRunners := context.WithCancel(context.WithoutCancel(ctx))
	s.runCtx = runCtx
	for _, svc := range s.services {
		s.spawnLocked(svc)
	}
	s.mu.Unlock()
	s.log.Info("supervisor running")

	<-ctx.Done()
	s.shutdown()
	cancelRunners()
	s.runners.Wait()
	s.mu.Lock()
	sinks := make([]*logSink, 0, len(s.services))
	for _, svc := range s.services {
		sinks = append(sinks, svc.out)
	}
	s.phase = phaseClosed
	s.mu.Unlock()
	for _, sink := range sinks {
		sink.close()
	}
	s.log.Info("supervisor stopped")
	return nil
}

// shutdown stops every service, each one once all its dependents have
// stopped; independent services stop concurrently.
func (s *Supervisor) shutdown() {
	s.mu.Lock()
	s.phase = phaseStopping
	svcs := slices.Collect(maps.Values(s.services))
	s.mu.Unlock()
	s.log.Info("stopping services")

	stopped := make(map[string]chan struct{}, len(svcs))
	dependents := map[string][]string{}
	for _, svc := range svcs {
		stopped[svc.spec.Name] = make(chan struct{})
		for _, d := range svc.spec.DependsOn {
			dependents[d] = append(dependents[d], svc.spec.Name)
		}
	}
	var wg sync.WaitGroup
	for _, svc := range svcs {
		wg.Go(func() {
			defer close(stopped[svc.spec.Name])
			for _, d := range dependents[svc.spec.Name] {
				<-stopped[d]
			}
			_ = svc.send(cmdStop, "supervisor shutting down") // fails only if the runner is gone
		})
	}
	wg.Wait()
}

func (s *Supervisor) spawnLocked(svc *service) {
	ctx, quit := context.WithCancel(s.runCtx)
	svc.quit = quit
	s.runners.Go(func() {
		defer quit()
		svc.run(ctx)
	})
}

// notifyLocked wakes everything waiting for a status change.
func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// dependencies describes the first dependency that is not ready ("" if all
// are) and returns the channel that closes on the next status change.
func (s *Supervisor) dependencies(deps []string) (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range deps {
		svc, ok := s.services[d]
		switch {
		case !ok:
			return fmt.Sprintf("waiting for %s (not defined)", d), s.changed
		case !svc.status.Ready():
			st := svc.status
			return fmt.Sprintf("waiting for %s (%s)", d, strings.TrimSuffix(st.State.String()+" "+st.Health.String(), " ")), s.changed
		}
	}
	return "", s.changed
}

// update changes svc's status under the lock. It wakes waiters only when
// the state or health changed, the two inputs of Status.Ready: waiters
// re-publish their own status, which would otherwise wake them forever.
func (s *Supervisor) update(svc *service, fn func(st *Status)) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	state, health := svc.status.State, svc.status.Health
	fn(&svc.status)
	if svc.status.State != state || svc.status.Health != health {
		s.notifyLocked()
	}
	return svc.status
}
