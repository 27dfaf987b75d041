package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// cmdKind is an operator request to a service's runner.
type cmdKind int

const (
	cmdStart cmdKind = iota + 1
	cmdStop
	cmdRestart
)

func (k cmdKind) String() string {
	switch k {
	case cmdStart:
		return "start"
	case cmdStop:
		return "stop"
	case cmdRestart:
		return "restart"
	}
	return fmt.Sprintf("cmdKind(%d)", int(k))
}

// command is a request with the channel its runner closes once done.
type command struct {
	kind cmdKind
	why  string // for stops: why, if not an operator's request
	ack  chan struct{}
}

// stopped is the status message of a service this command stopped.
func (c command) stopped() string {
	if c.why != "" {
		return "stopped: " + c.why
	}
	return "stopped on request"
}

// phaseFn is one phase of a service's lifecycle; it returns the next, or
// nil when the runner must end (the supervisor is done).
type phaseFn func(ctx context.Context) phaseFn

// service is one supervised service. Its runner goroutine alone moves it
// between phases; Start, Stop and Restart reach it as commands, so there
// is never a second writer to race with.
type service struct {
	sup  *Supervisor
	spec Spec
	log  *slog.Logger
	out  *logSink
	cmds chan command
	done chan struct{} // closed when the runner ends
	// quit ends the runner once the service is stopped (Remove); set by
	// spawnLocked.
	quit context.CancelFunc

	status Status // guarded by sup.mu

	// Owned by the runner.
	bo     backoff.Backoff // restart delays; reset after a long run or a request
	delay  time.Duration   // the delay of the current backoff phase
	starts int
}

func newService(sup *Supervisor, spec Spec, log *slog.Logger, out *logSink) *service {
	st := Status{Name: spec.Name, State: StateWaiting, Message: "supervisor not running", Since: time.Now()}
	if spec.Health != nil {
		st.Health = HealthUnknown
	}
	return &service{sup: sup, spec: spec, log: log, out: out, cmds: make(chan command), done: make(chan struct{}), status: st, bo: spec.Backoff.sequence()}
}

// send hands a command to the runner and waits until it is carried out.
func (r *service) send(kind cmdKind, why string) error {
	c := command{kind: kind, why: why, ack: make(chan struct{})}
	select {
	case r.cmds <- c:
	case <-r.done:
		return ErrNotRunning
	}
	<-c.ack // the runner acknowledges every command it receives
	return nil
}

func (r *service) run(ctx context.Context) {
	defer close(r.done)
	for p := r.waiting; p != nil; {
		p = p(ctx)
	}
}

// set moves the service to state with msg, applying fn to the status too,
// and logs state changes.
func (r *service) set(state State, msg string, fn func(st *Status)) {
	var from State
	st := r.sup.update(r, func(st *Status) {
		from = st.State
		if st.State != state {
			st.State, st.Since = state, time.Now()
		}
		st.Message = msg
		if fn != nil {
			fn(st)
		}
	})
	if from == state {
		return
	}
	level := slog.LevelInfo
	if state == StateBackoff || state == StateFailed {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "service state changed",
		"from", from.String(), "state", state.String(), "pid", st.PID, "message", msg)
}

// waiting waits for dependencies, then for the start condition.
func (r *service) waiting(ctx context.Context) phaseFn {
	var (
		cond       chan error // the condition evaluation in flight
		condCancel context.CancelFunc
		retry      <-chan time.Time
		condMsg    = "waiting for start condition"
	)
	defer func() {
		if cond != nil {
			condCancel()
			<-cond
		}
	}()
	for {
		deps, changed := r.sup.dependencies(r.spec.DependsOn)
		msg := deps
		switch {
		case deps != "":
		case r.spec.Condition == nil:
			return r.starting
		case cond == nil && retry == nil:
			cond, condCancel = r.checkCondition(ctx)
			fallthrough
		default:
			msg = condMsg
		}
		r.set(StateWaiting, msg, nil)
		select {
		case <-changed:
		case err := <-cond:
			cond = nil
			condCancel()
			if err == nil {
				if deps, _ := r.sup.dependencies(r.spec.DependsOn); deps == "" {
					return r.starting
				}
				continue
			}
			condMsg = "waiting for start condition: " + err.Error()
			retry = time.After(r.sup.opts.ConditionInterval)
		case <-retry:
			retry = nil
		case c := <-r.cmds:
			if c.kind == cmdStop {
				r.set(StateStopped, c.stopped(), nil)
				close(c.ack)
				return r.idle
			}
			close(c.ack) // already on its way to start
		case <-ctx.Done():
			return nil
		}
	}
}

// checkCondition evaluates the start condition in a goroutine, which
// sends its result on the returned channel; cancel interrupts it.
func (r *service) checkCondition(ctx context.Context) (chan error, context.CancelFunc) {
	ch := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	go func() { ch <- r.spec.Condition(cctx) }()
	return ch, cancel
}

// starting starts the process and then watches it.
func (r *service) starting(ctx context.Context) phaseFn {
	restart := r.starts > 0
	r.starts++
	w, err := r.out.pipe()
	var p *process
	if err == nil {
		p, err = startProcess(&r.spec, w, r.sup.opts.Reaper)
		_ = w.Close() // the child has its own copy
	}
	if err != nil {
		r.log.Warn("service start failed", "error", err)
		r.sup.update(r, func(st *Status) {
			st.LastError = err
			if restart {
				st.Restarts++
			}
		})
		return r.afterExit(exitResult{code: -1, err: err}, nil, "start failed: "+err.Error())
	}
	state := StateRunning
	if r.spec.Health != nil {
		state = StateStarting
	}
	r.log.Info("service process started", "pid", p.pid, "path", r.spec.Path)
	r.set(state, "", func(st *Status) {
		st.PID = p.pid
		if restart {
			st.Restarts++
		}
	})
	return r.watch(ctx, p)
}

// watch follows a running process until it exits, fails its health check
// or a command or shutdown stops it.
func (r *service) watch(ctx context.Context, p *process) phaseFn {
	var results <-chan error
	if r.spec.Health != nil {
		pr := startProber(r.spec.Health, r.spec.Env, r.spec.Dir, r.sup.opts.Reaper)
		defer pr.stop()
		results = pr.results
	}
	failures := 0
	for {
		select {
		case res := <-p.exited:
			r.recordExit(p, res)
			return r.afterExit(res, nil, exitSummary(res))
		case err := <-results:
			if !r.onHealth(err, p.started, &failures) {
				continue
			}
			r.log.Warn("service failed its health check, restarting", "failures", failures, "error", err)
			res, _ := p.stop(r.spec.StopTimeout)
			r.recordExit(p, res)
			return r.afterExit(res, err, fmt.Sprintf("killed after %d failed health checks: %v", failures, err))
		case c := <-r.cmds:
			if next := r.stopFor(c, p); next != nil {
				return next
			}
		case <-ctx.Done():
			r.recordExit(p, r.terminate(p))
			r.set(StateStopped, "supervisor stopped", nil)
			return nil
		}
	}
}

// stopFor carries out a command while the process runs; it returns the
// next phase, or nil to keep watching.
func (r *service) stopFor(c command, p *process) phaseFn {
	defer close(c.ack)
	if c.kind == cmdStart {
		return nil
	}
	res := r.terminate(p)
	r.recordExit(p, res)
	if c.kind == cmdStop {
		r.set(StateStopped, c.stopped()+" ("+exitSummary(res)+")", nil)
		return r.idle
	}
	r.bo.Reset()
	r.set(StateWaiting, "restarting on request", nil)
	return r.waiting
}

// terminate stops the process: SIGTERM, then SIGKILL after StopTimeout.
func (r *service) terminate(p *process) exitResult {
	r.log.Info("stopping service process", "pid", p.pid, "timeout", r.spec.StopTimeout)
	res, killed := p.stop(r.spec.StopTimeout)
	if killed {
		r.log.Warn("service process ignored SIGTERM, killed", "pid", p.pid, "timeout", r.spec.StopTimeout)
	}
	return res
}

// recordExit publishes how a process ended.
func (r *service) recordExit(p *process, res exitResult) {
	r.log.Info("service process exited", "pid", p.pid, "code", res.code, "uptime", res.uptime, "error", res.err)
	r.sup.update(r, func(st *Status) {
		st.PID, st.LastExitCode = 0, res.code
		if res.err != nil {
			st.LastError = res.err
		}
		if st.Health != HealthNone {
			st.Health = HealthUnknown
		}
	})
}

// afterExit applies the restart policy to a process that ended; cause is
// the failed health check that ended it, if any.
func (r *service) afterExit(res exitResult, cause error, msg string) phaseFn {
	if cause != nil {
		r.sup.update(r, func(st *Status) { st.LastError = cause })
	}
	if res.uptime >= r.spec.Backoff.MinUptime {
		r.bo.Reset() // it ran long enough: this is not a crash loop
	}
	failed := res.err != nil || cause != nil
	switch {
	case r.spec.Restart == RestartOnce && failed:
		r.set(StateFailed, msg, nil)
		return r.idle
	case r.spec.Restart != RestartAlways && !failed:
		r.set(StateFinished, msg, nil)
		return r.idle
	}
	r.delay = r.bo.Next()
	return r.backoff(msg)
}

// backoff waits out the current delay before the next start.
func (r *service) backoff(msg string) phaseFn {
	return func(ctx context.Context) phaseFn {
		r.log.Info("service backing off", "delay", r.delay)
		r.set(StateBackoff, fmt.Sprintf("%s; restarting in %s", msg, r.delay), nil)
		t := time.NewTimer(r.delay)
		defer t.Stop()
		select {
		case <-t.C:
			return r.waiting
		case c := <-r.cmds:
			defer close(c.ack)
			if c.kind == cmdStop {
				r.set(StateStopped, c.stopped(), nil)
				return r.idle
			}
			r.bo.Reset()
			r.set(StateWaiting, c.kind.String()+"ing on request", nil)
			return r.waiting
		case <-ctx.Done():
			return nil
		}
	}
}

// idle waits for Start or Restart after the service stopped, finished or
// failed.
func (r *service) idle(ctx context.Context) phaseFn {
	for {
		select {
		case c := <-r.cmds:
			if c.kind == cmdStop {
				close(c.ack)
				continue
			}
			r.bo.Reset()
			r.set(StateWaiting, c.kind.String()+"ing on request", nil)
			close(c.ack)
			return r.waiting
		case <-ctx.Done():
			return nil
		}
	}
}
