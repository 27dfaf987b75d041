package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// Defaults applied by Run to zero fields of Options.
const (
	DefaultBackoffInitial   = time.Second
	DefaultBackoffMax       = 30 * time.Second
	DefaultBackoffMinUptime = 10 * time.Second
	DefaultStopTimeout      = 10 * time.Second
)

// connTimeout bounds reading a request and writing its answer.
const connTimeout = 5 * time.Second

// Options configure a boot stage.
type Options struct {
	// StateDir is the node's state directory; the PID file and the control
	// socket are created in it.
	StateDir string
	// Command returns the child to run, called for every start. The boot
	// stage sets its SysProcAttr; Stdout and Stderr left nil go to Output.
	Command func() *exec.Cmd
	// Output receives the child's output when its Cmd sets none; nil is
	// os.Stderr, so the child appends to the same log as the boot stage.
	Output io.Writer
	// Logger receives the boot stage's events; nil discards them.
	Logger *slog.Logger
	// Backoff paces restarts after unexpected exits.
	Backoff Backoff
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// RebootExitCode, if not 0, is the exit code with which the child asks
	// to be started again: it is, at once, without backoff and without
	// counting it in Restarts (cairnd's power.ExitReboot, after a reboot
	// or reset through its API).
	RebootExitCode int
	// Slots starts the child from the A/B slots of StateDir: each start
	// runs the boot record's slot (SlotBinary; slot A without one runs
	// Command's own program) with EnvSlot and EnvTrial set, and OpTry,
	// OpConfirm and OpRollback move between them.
	Slots bool
	// Now is the clock of the boot record's times; nil is time.Now.
	Now func() time.Time
	// Starter starts the child and is told once its exit status was
	// collected; nil starts it with cmd.Start. As a container's PID 1 the
	// boot stage also reaps the orphans reparented to it, and its reaper
	// must leave the child for the boot stage's own Wait (pid1.Reaper).
	Starter Starter
	// ExitWhenFinished ends the boot stage, with no error, when the child
	// finishes on its own (exit code 0: cairnd was shut down or removed)
	// instead of keeping it stopped: as a container's entrypoint the boot
	// stage must exit for the container to stop, and a restart policy of
	// on-failure then leaves it stopped.
	ExitWhenFinished bool
}

// Starter starts child processes for someone who waits for them itself;
// pid1.Reaper is one (its Start keeps its orphan reaping off the process
// until Release). The boot stage cannot name pid1 (it imports nothing of
// the node's), so it names the two methods it needs.
type Starter interface {
	Start(cmd *exec.Cmd) error
	Release(pid int)
}

// plainStart is the Starter without a reaper.
type plainStart struct{}

func (plainStart) Start(cmd *exec.Cmd) error { return cmd.Start() }
func (plainStart) Release(int)               {}

// Backoff is an exponential restart delay: Initial, doubling after each
// unexpected exit up to Max, back to Initial once a child has run for
// MinUptime. The sequence is internal/backoff's.
type Backoff struct {
	Initial   time.Duration
	Max       time.Duration
	MinUptime time.Duration
}

// sequence returns the restart delays as a fresh backoff.Backoff.
func (b Backoff) sequence() backoff.Backoff {
	return backoff.Backoff{Initial: b.Initial, Max: b.Max}
}

func (o Options) normalize() (Options, error) {
	if o.StateDir == "" || o.Command == nil {
		return o, fmt.Errorf("%w: a state directory and a command are required", ErrInvalidOptions)
	}
	if o.Output == nil {
		o.Output = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = DefaultBackoffInitial
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = max(DefaultBackoffMax, o.Backoff.Initial)
	}
	if o.Backoff.MinUptime <= 0 {
		o.Backoff.MinUptime = DefaultBackoffMinUptime
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Starter == nil {
		o.Starter = plainStart{}
	}
	command := o.Command
	o.Command = func() *exec.Cmd {
		cmd := command()
		if cmd.Stdout == nil {
			cmd.Stdout = o.Output
		}
		if cmd.Stderr == nil {
			cmd.Stderr = o.Output
		}
		return cmd
	}
	return o, nil
}

// Run is the boot stage: it locks the PID file, serves the control socket
// and keeps the child running until ctx ends (the boot stage's SIGTERM or
// SIGINT) or a shutdown request; either stops the child first. It returns
// once the child has exited and every request has been answered.
func Run(ctx context.Context, opts Options) error {
	o, err := opts.normalize()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	pidFile, err := lockPIDFile(PIDPath(o.StateDir))
	if err != nil {
		return err
	}
	defer releasePIDFile(pidFile)
	ln, err := listen(SocketPath(o.StateDir))
	if err != nil {
		return err
	}
	defer ln.Close()
	o.Logger.Info("boot stage started", "pid", os.Getpid(), "socket", SocketPath(o.StateDir))
	r := newRunner(o)
	if o.Slots {
		if err := r.loadRecord(); err != nil {
			return err
		}
	}
	// The first start runs before the socket is served, so every answer
	// names a child state.
	go r.loop(ctx, r.starting(nil)(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { serve(ln, r, &wg) })
	<-r.done
	_ = ln.Close()
	wg.Wait()
	o.Logger.Info("boot stage exiting")
	return nil
}

// lockPIDFile opens path, takes its lock and writes this process's PID.
// The lock (not the file's presence) says that a boot stage runs: the
// kernel drops it however the process ends.
func lockPIDFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open PID file: %w", err)
	}
	if err := lockFile(f); err != nil {
		old, _ := io.ReadAll(f)
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s holds %s (pid %s)", ErrRunning, path, err, string(old))
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write PID file: %w", err)
	}
	if _, err := f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write PID file: %w", err)
	}
	return f, nil
}

// releasePIDFile removes the PID file while still holding its lock, so a
// boot stage starting now cannot have written it.
func releasePIDFile(f *os.File) {
	_ = os.Remove(f.Name())
	_ = f.Close()
}

// listen creates the control socket. A socket file left by a boot stage
// that died is removed first: holding the PID lock proves nobody serves it.
func listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("restrict control socket: %w", err)
	}
	return ln, nil
}

// serve answers connections until ln is closed, one request each.
func serve(ln net.Listener, r *runner, wg *sync.WaitGroup) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Go(func() { handle(conn, r) })
	}
}

func handle(conn net.Conn, r *runner) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(connTimeout))
	var req Request
	if err := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&req); err != nil {
		return
	}
	var err error
	switch req.Op {
	case OpStatus:
	case OpStop, OpStart, OpRestart, OpShutdown, OpTry, OpConfirm, OpRollback:
		r.log.Info("control request", "op", req.Op, "slot", req.Slot)
		err = r.do(context.Background(), req)
	default:
		err = fmt.Errorf("%w %q", ErrUnknownOp, req.Op)
	}
	res := response{}
	if err != nil {
		res.Error, res.Code = err.Error(), codeOf(err)
	} else {
		st := r.status()
		res.Status = &st
	}
	_ = conn.SetWriteDeadline(time.Now().Add(connTimeout))
	_ = json.NewEncoder(conn).Encode(res)
}
