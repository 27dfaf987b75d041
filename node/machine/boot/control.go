package boot

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"syscall"
	"time"
)

// File names in the node's state directory.
const (
	socketName = "boot.sock"
	pidName    = "boot.pid"
)

// maxRequest bounds a control request line.
const maxRequest = 4 << 10

// SocketPath is the control socket of the boot stage of stateDir.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, socketName) }

// PIDPath is the PID file of the boot stage of stateDir. It is locked
// (flock) for as long as that boot stage runs.
func PIDPath(stateDir string) string { return filepath.Join(stateDir, pidName) }

// Op is a control request.
type Op string

// The control requests. Each is answered with the Status after it took
// effect: stop after the child exited, start and restart after the new
// child was started, shutdown after the child exited (the boot stage exits
// right after answering).
const (
	OpStatus   Op = "status"
	OpStop     Op = "stop"
	OpStart    Op = "start"
	OpRestart  Op = "restart"
	OpShutdown Op = "shutdown"
	// OpTry (with Options.Slots) puts Request.Slot on trial and restarts
	// the child into it: Request.Tries starts (DefaultTries when 0), each
	// to confirm it within Request.ConfirmTimeout (DefaultConfirmTimeout
	// when 0), before the boot stage falls back to the confirmed slot.
	// The slot must hold its binary (SlotBinary) and not be the one
	// running.
	OpTry Op = "try"
	// OpConfirm makes the slot on trial, which the running child was
	// started from, the confirmed one. Confirming the confirmed slot again
	// is a no-op, so a retried confirm succeeds.
	OpConfirm Op = "confirm"
	// OpRollback makes the other slot the confirmed one and restarts the
	// child into it: an upgrade undone. Any trial is dropped.
	OpRollback Op = "rollback"
)

// State is what the child is doing.
type State string

// The child's states.
const (
	// StateRunning: the child process runs.
	StateRunning State = "running"
	// StateBackoff: the child exited unexpectedly (or failed to start) and
	// is started again at Status.NextStart.
	StateBackoff State = "backoff"
	// StateStopped: the child was stopped by request and stays down until
	// a start or restart.
	StateStopped State = "stopped"
)

// Status is a boot stage's report, as it answers every request.
type Status struct {
	// PID is the boot stage's own process ID.
	PID int `json:"pid"`
	// State is the child's state.
	State State `json:"state"`
	// ChildPID is the running child's process ID, 0 unless running.
	ChildPID int `json:"childPid,omitempty"`
	// Since is when the child entered State (for running: its start).
	Since time.Time `json:"since"`
	// Restarts counts starts after unexpected exits (not requested ones).
	Restarts int `json:"restarts"`
	// LastExit says how the last child ended ("exited with code 1",
	// "killed by signal killed"), empty before the first exit.
	LastExit string `json:"lastExit,omitempty"`
	// NextStart is when a child in backoff is started again.
	NextStart time.Time `json:"nextStart,omitzero"`
	// Slots is the A/B slots' state, nil without Options.Slots.
	Slots *SlotStatus `json:"slots,omitempty"`
}

// Request is one control request: Op, and for OpTry and OpConfirm the
// slot (and OpTry's tries and confirm timeout).
type Request struct {
	Op             Op            `json:"op"`
	Slot           string        `json:"slot,omitempty"`
	Tries          int           `json:"tries,omitempty"`
	ConfirmTimeout time.Duration `json:"confirmTimeout,omitempty"`
}

type response struct {
	Status *Status `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
	// Code names the sentinel behind Error, so Call can return it.
	Code string `json:"code,omitempty"`
}

// codes maps the sentinels a boot stage answers with to their wire names.
var codes = map[string]error{
	"unknown-op": ErrUnknownOp, "shutting-down": ErrShuttingDown, "no-slots": ErrNoSlots,
	"bad-slot": ErrBadSlot, "not-on-trial": ErrNotOnTrial,
}

func codeOf(err error) string {
	for c, e := range codes {
		if errors.Is(err, e) {
			return c
		}
	}
	return ""
}

// Call sends op to the boot stage of stateDir and returns its status after
// op took effect. ctx bounds the whole exchange; a stop or shutdown can take
// as long as the boot stage's stop timeout.
func Call(ctx context.Context, stateDir string, op Op) (Status, error) {
	return Do(ctx, stateDir, Request{Op: op})
}

// Do sends req to the boot stage of stateDir, as Call does.
func Do(ctx context.Context, stateDir string, req Request) (Status, error) {
	op := req.Op
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", SocketPath(stateDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return Status{}, fmt.Errorf("%w in %s: %w", ErrNotRunning, stateDir, err)
		}
		return Status{}, fmt.Errorf("dial boot stage: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Status{}, fmt.Errorf("send %s to boot stage: %w", op, err)
	}
	var res response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&res); err != nil {
		return Status{}, fmt.Errorf("read boot stage's answer to %s: %w", op, err)
	}
	if res.Error != "" {
		if sentinel, ok := codes[res.Code]; ok {
			return Status{}, fmt.Errorf("%s: %w", op, sentinel)
		}
		return Status{}, fmt.Errorf("%w %s: %s", ErrRefused, op, res.Error)
	}
	if res.Status == nil {
		return Status{}, fmt.Errorf("%w %s: answer without a status", ErrRefused, op)
	}
	return *res.Status, nil
}
