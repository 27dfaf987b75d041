package pid1

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reaper reaps orphaned zombies: processes the kernel reparented to this
// process because it is PID 1 (or a child subreaper, in tests), whose
// parents died without waiting for them. Unreaped, each holds a PID
// forever.
//
// It must not reap children that someone in this process waits for (the
// supervisor's services and health checks, mkfs.ext4): their Wait would
// fail with ECHILD and the exit status would be lost
// (node/machine/supervisor/DESIGN.md names the conflict). So every child
// of cairnd is started through Start, which registers its PID under the
// same lock the reaper holds while it decides, and is handed back with
// Release after its Wait. The reaper peeks at the next zombie with
// waitid(P_ALL, WNOWAIT), which leaves it a zombie, and reaps it only if
// it is not registered. See DESIGN.md for why this and not Talos's route
// of every wait through the reaper.
//
// Reaper implements supervisor.Reaper. Its methods are safe for
// concurrent use; Run reaps until its context ends.
type Reaper struct {
	log *slog.Logger
	// proc is the proc filesystem, for the scan past a registered zombie.
	proc string

	mu    sync.Mutex
	owned map[int]bool // PIDs whose exit status someone else collects

	wake   chan struct{} // a Release: a zombie it held up may be reapable
	reaped atomic.Uint64

	changedMu sync.Mutex
	changed   chan struct{} // closed after a reap, then replaced
}

// NewReaper returns a reaper that reaps nothing until Run.
func NewReaper(log *slog.Logger) *Reaper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reaper{log: log, proc: "/proc", owned: map[int]bool{}, wake: make(chan struct{}, 1), changed: make(chan struct{})}
}

// Start starts cmd and keeps the reaper away from its process until
// Release: the registration happens under the lock the reaper holds while
// it reaps, so a child that exits before Start returns is still left for
// cmd.Wait.
func (r *Reaper) Start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.owned[cmd.Process.Pid] = true
	return nil
}

// Release hands pid back once its exit status was collected. An orphan
// that reused the PID in between and was skipped is reaped on the pass
// this triggers.
func (r *Reaper) Release(pid int) {
	r.mu.Lock()
	delete(r.owned, pid)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Exec runs cmd to completion through Start and Release, as cmd.Run does:
// the way for cairnd's own one-off programs (mkfs.ext4) to run while the
// reaper runs.
func (r *Reaper) Exec(cmd *exec.Cmd) error {
	if err := r.Start(cmd); err != nil {
		return err
	}
	defer r.Release(cmd.Process.Pid)
	return cmd.Wait()
}

// Reaped counts the orphans reaped so far.
func (r *Reaper) Reaped() uint64 { return r.reaped.Load() }

// Changed returns a channel that is closed once Reaped has grown past
// what it is now (read Reaped after taking it): how ReaperStatus follows
// the count without polling.
func (r *Reaper) Changed() <-chan struct{} {
	r.changedMu.Lock()
	defer r.changedMu.Unlock()
	return r.changed
}

// notify wakes the waiters of Changed.
func (r *Reaper) notify() {
	r.changedMu.Lock()
	defer r.changedMu.Unlock()
	close(r.changed)
	r.changed = make(chan struct{})
}

// Run reaps orphans on every SIGCHLD and Release until ctx ends; it
// always returns ctx's error. It reaps once at start, for orphans that
// exited before it ran.
func (r *Reaper) Run(ctx context.Context) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	for {
		r.reap()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sig:
		case <-r.wake:
		}
	}
}

// reap reaps every zombie child that is not registered. SIGCHLD
// coalesces, so one pass reaps until none is left.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		pid, err := peekZombie()
		if err != nil || pid == 0 {
			return // ECHILD: no children at all; 0: none has exited
		}
		if r.owned[pid] {
			// The kernel reports the first waitable child; this one's
			// owner reaps it shortly. Other zombies may wait behind it,
			// so look for them by name instead of waiting.
			r.reapListed()
			return
		}
		r.reapPID(pid)
	}
}

// reapPID reaps one zombie that is not registered.
func (r *Reaper) reapPID(pid int) {
	var info siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, info.unix(), unix.WEXITED|unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && info.pid != 0 {
			n := r.reaped.Add(1)
			r.notify()
			r.log.Debug("reaped orphan", "pid", pid, "code", info.code, "status", info.status, "reaped", n)
		}
		return
	}
}

// reapListed reaps the unregistered zombies among this process's children
// as /proc lists them.
func (r *Reaper) reapListed() {
	for _, pid := range zombieChildren(r.proc, os.Getpid()) {
		if !r.owned[pid] {
			r.reapPID(pid)
		}
	}
}

// peekZombie returns the PID of a child that has exited, without reaping
// it (WNOWAIT), or 0 if none has.
func peekZombie() (int, error) {
	var info siginfo
	for {
		err := unix.Waitid(unix.P_ALL, 0, info.unix(), unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return int(info.pid), err
	}
}

// siginfo is the head of Linux's siginfo_t for SIGCHLD, which
// unix.Siginfo keeps opaque: si_signo, si_errno, si_code, padding on
// 64-bit, then si_pid, si_uid, si_status. Its size is the kernel's 128
// bytes. With WNOHANG and no waitable child the kernel leaves si_pid 0.
type siginfo struct {
	signo, errno, code int32
	_                  int32
	pid                int32
	uid                uint32
	status             int32
	_                  [100]byte
}

func (s *siginfo) unix() *unix.Siginfo {
	return (*unix.Siginfo)(unsafe.Pointer(s))
}

// zombieChildren lists the zombies among parent's children from
// proc/[pid]/stat ("pid (comm) state ppid ...", comm may hold spaces and
// parentheses).
func zombieChildren(proc string, parent int) []int {
	stats, _ := filepath.Glob(filepath.Join(proc, "[0-9]*", "stat"))
	var out []int
	want := strconv.Itoa(parent)
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // gone
		}
		if pid, ok := zombieOf(string(data), want); ok {
			out = append(out, pid)
		}
	}
	return out
}

// zombieOf parses one stat line and returns its PID if it is a zombie
// child of parent.
func zombieOf(stat, parent string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 || f[0] != "Z" || f[1] != parent {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.Fields(stat)[0])
	return pid, err == nil
}

// siginfo must be exactly as large as the kernel's siginfo_t.
var (
	_ [unsafe.Sizeof(siginfo{}) - unsafe.Sizeof(unix.Siginfo{})]byte
	_ [unsafe.Sizeof(unix.Siginfo{}) - unsafe.Sizeof(siginfo{})]byte
)
