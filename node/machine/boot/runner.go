package boot

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// runner owns the child: one goroutine (loop) moves it through the phases
// running, backoff and stopped, and alone starts and stops processes.
// Requests reach it as commands and are acknowledged once they took
// effect, so a crash, a stop request and a shutdown arriving together are
// handled one at a time, never raced.
type runner struct {
	opts  Options
	log   *slog.Logger
	cmds  chan command
	done  chan struct{}   // closed when loop returns, after the child is gone
	bo    backoff.Backoff // restart delays; reset after a long run or a request
	delay time.Duration   // the delay of the current backoff phase

	// rec is the boot record (Options.Slots), owned by the loop: loaded
	// before each start, saved before it takes effect. confirmBy is when
	// the running child must confirm its trial slot (zero: not on trial).
	rec       Record
	confirmBy time.Time

	mu    sync.Mutex
	st    Status
	slots *SlotStatus // copied into every status
}

// command is one request; reply is buffered so the runner never blocks.
type command struct {
	op    Op
	req   Request
	reply chan error
}

// phase is one state of the runner; it returns the next, nil to end.
type phase func(ctx context.Context) phase

func newRunner(o Options) *runner {
	return &runner{
		opts: o, log: o.Logger, cmds: make(chan command), done: make(chan struct{}),
		st: Status{PID: os.Getpid()}, bo: o.Backoff.sequence(),
	}
}

// loop runs the phases from p until ctx ends or a shutdown.
func (r *runner) loop(ctx context.Context, p phase) {
	defer close(r.done)
	for p != nil {
		p = p(ctx)
	}
}

// status returns a copy of the current status.
func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if r.slots != nil {
		ss := *r.slots
		st.Slots = &ss
	}
	return st
}

func (r *runner) set(fn func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.st)
}

// do hands req to the runner and waits for its acknowledgement.
func (r *runner) do(ctx context.Context, req Request) error {
	c := command{op: req.Op, req: req, reply: make(chan error, 1)}
	select {
	case r.cmds <- c:
	case <-r.done:
		return ErrShuttingDown
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-r.done:
		// A shutdown is acknowledged just before loop returns.
		select {
		case err := <-c.reply:
			return err
		default:
			return ErrShuttingDown
		}
	}
}

func reply(ch chan error, err error) {
	if ch != nil {
		ch <- err
	}
}

// starting starts a child; ack, if set, learns whether that worked.
func (r *runner) starting(ack chan error) phase {
	return func(context.Context) phase {
		cmd := r.opts.Command()
		if r.opts.Slots {
			if err := r.fromSlot(cmd); err != nil {
				reply(ack, err)
				r.log.Error("child start failed", "err", err)
				return r.failed(err.Error(), 0)
			}
		}
		c, err := spawn(cmd, r.opts.Starter)
		reply(ack, err)
		if err != nil {
			r.log.Error("child start failed", "err", err)
			return r.failed(err.Error(), 0)
		}
		r.log.Info("child started", "pid", c.pid, "slot", r.rec.Booted, "trial", !r.confirmBy.IsZero())
		r.set(func(s *Status) {
			*s = Status{PID: s.PID, State: StateRunning, ChildPID: c.pid, Since: c.started, Restarts: s.Restarts, LastExit: s.LastExit}
		})
		return r.running(c)
	}
}

// running waits for the child to exit or for a request. A child started
// from a trial slot that does not confirm it by confirmBy is stopped, and
// the confirmed slot started instead.
func (r *runner) running(c *child) phase {
	return func(ctx context.Context) phase {
		var confirmDeadline <-chan time.Time
		if !r.confirmBy.IsZero() {
			t := time.NewTimer(time.Until(r.confirmBy))
			defer t.Stop()
			confirmDeadline = t.C
		}
		for {
			select {
			case <-ctx.Done():
				r.stopChild(c, "boot stage stopping")
				return nil
			case <-confirmDeadline:
				reason := fmt.Sprintf("slot %s was not confirmed within %s", r.rec.Trial, r.rec.ConfirmTimeout)
				r.log.Warn("trial slot not confirmed in time; falling back", "slot", r.rec.Trial, "current", r.rec.Current)
				r.stopChild(c, "trial not confirmed")
				r.abandonTrial(reason)
				r.bo.Reset()
				return r.starting(nil)
			case res := <-c.exited:
				if r.opts.RebootExitCode != 0 && res.code == r.opts.RebootExitCode {
					r.log.Info("child asked to be restarted; starting it again", "pid", c.pid, "status", res.summary)
					r.set(func(s *Status) { s.LastExit = res.summary + " (reboot)" })
					r.bo.Reset()
					return r.starting(nil)
				}
				if res.clean {
					r.log.Info("child finished on its own; not restarting it", "pid", c.pid, "status", res.summary)
					r.set(func(s *Status) { s.LastExit = res.summary })
					if r.opts.ExitWhenFinished {
						return nil
					}
					return r.stopped()
				}
				r.log.Warn("child exited", "pid", c.pid, "status", res.summary, "uptime", res.uptime.Round(time.Millisecond))
				return r.failed(res.summary, res.uptime)
			case cmd := <-r.cmds:
				switch cmd.op {
				case OpStart:
					reply(cmd.reply, nil) // already running
				case OpStop:
					r.stopChild(c, "stop requested")
					reply(cmd.reply, nil)
					return r.stopped()
				case OpRestart:
					r.stopChild(c, "restart requested")
					r.bo.Reset()
					return r.starting(cmd.reply)
				case OpShutdown:
					r.stopChild(c, "shutdown requested")
					reply(cmd.reply, nil)
					return nil
				case OpConfirm:
					reply(cmd.reply, r.confirm(cmd.req.Slot))
					if r.confirmBy.IsZero() {
						confirmDeadline = nil
					}
				case OpTry, OpRollback:
					if err := r.switchSlot(cmd.req); err != nil {
						reply(cmd.reply, err)
						continue
					}
					r.stopChild(c, string(cmd.op)+" requested")
					r.bo.Reset()
					return r.starting(cmd.reply)
				default:
					reply(cmd.reply, ErrUnknownOp)
				}
			}
		}
	}
}

// failed records an unexpected end and moves to backoff. A child that ran
// for MinUptime resets the delay: a crash loop backs off, an occasional
// crash after a long run restarts promptly.
func (r *runner) failed(summary string, uptime time.Duration) phase {
	if uptime >= r.opts.Backoff.MinUptime {
		r.bo.Reset()
	}
	r.delay = r.bo.Next()
	return r.backoff(summary)
}

// backoff waits out r.delay, then starts the child again. A start or
// restart request skips the wait.
func (r *runner) backoff(lastExit string) phase {
	return func(ctx context.Context) phase {
		now := time.Now()
		r.set(func(s *Status) {
			*s = Status{PID: s.PID, State: StateBackoff, Since: now, Restarts: s.Restarts + 1,
				LastExit: lastExit, NextStart: now.Add(r.delay)}
		})
		r.log.Info("child backing off", "delay", r.delay)
		t := time.NewTimer(r.delay)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				return r.starting(nil)
			case cmd := <-r.cmds:
				switch cmd.op {
				case OpStart, OpRestart:
					return r.starting(cmd.reply)
				case OpStop:
					reply(cmd.reply, nil)
					return r.stopped()
				case OpShutdown:
					reply(cmd.reply, nil)
					return nil
				case OpConfirm, OpTry, OpRollback:
					if next := r.slotRequest(cmd); next != nil {
						return next
					}
				default:
					reply(cmd.reply, ErrUnknownOp)
				}
			}
		}
	}
}

// slotRequest handles a slot request while no child runs (backoff,
// stopped): a confirm is answered (there is no trial child to confirm); a
// try or rollback that the record takes starts the child into it, as the
// returned phase.
func (r *runner) slotRequest(cmd command) phase {
	if cmd.op == OpConfirm {
		reply(cmd.reply, r.confirm(cmd.req.Slot))
		return nil
	}
	if err := r.switchSlot(cmd.req); err != nil {
		reply(cmd.reply, err)
		return nil
	}
	r.bo.Reset()
	return r.starting(cmd.reply)
}

// stopped keeps the child down until a start or restart.
func (r *runner) stopped() phase {
	return func(ctx context.Context) phase {
		r.set(func(s *Status) {
			if s.State != StateStopped {
				*s = Status{PID: s.PID, State: StateStopped, Since: time.Now(), Restarts: s.Restarts, LastExit: s.LastExit}
			}
		})
		for {
			select {
			case <-ctx.Done():
				return nil
			case cmd := <-r.cmds:
				switch cmd.op {
				case OpStart, OpRestart:
					r.bo.Reset()
					return r.starting(cmd.reply)
				case OpStop:
					reply(cmd.reply, nil)
				case OpShutdown:
					reply(cmd.reply, nil)
					return nil
				case OpConfirm, OpTry, OpRollback:
					if next := r.slotRequest(cmd); next != nil {
						return next
					}
				default:
					reply(cmd.reply, ErrUnknownOp)
				}
			}
		}
	}
}

// stopChild stops a running child and records how it ended.
func (r *runner) stopChild(c *child, why string) {
	r.log.Info("child stopping", "pid", c.pid, "reason", why)
	res, killed := c.stop(r.opts.StopTimeout)
	r.log.Info("child stopped", "pid", c.pid, "status", res.summary, "killed", killed,
		"uptime", res.uptime.Round(time.Millisecond))
	now := time.Now()
	r.set(func(s *Status) {
		*s = Status{PID: s.PID, State: StateStopped, Since: now, Restarts: s.Restarts, LastExit: res.summary}
	})
}
