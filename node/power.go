package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/power"
)

// powerControl is the node's side of the API's power RPCs (api.Power): a
// request ends Run, which stops everything in order and returns it for
// main to carry out.
type powerControl struct {
	requests chan *power.Request // buffered: the first request wins
	agent    *formation.Agent
}

func newPowerControl(agent *formation.Agent) *powerControl {
	return &powerControl{requests: make(chan *power.Request, 1), agent: agent}
}

// Stop implements api.Power. A second request while the node stops for
// the first is dropped: the node is already going down.
func (p *powerControl) Stop(r *power.Request) {
	select {
	case p.requests <- r:
	default:
	}
}

// LeaveGossip implements api.Power.
func (p *powerControl) LeaveGossip(ctx context.Context) error {
	return p.agent.Gossip().Leave(ctx)
}

// finishPower completes a power request once the node has stopped: a
// reset wipes the state directory now that nothing holds it open (Raft's
// BoltDB, the supervisor's log files). The request stays in the returned
// error, so main carries it out even when the wipe failed (a machine that
// cannot wipe still reboots, and the error says why its state is back).
func finishPower(err error, stateDir string) error {
	r, ok := power.As(err)
	if !ok || !r.Reset {
		return err
	}
	if werr := wipeState(stateDir); werr != nil {
		return errors.Join(err, fmt.Errorf("reset: %w", werr))
	}
	return err
}

// wipeState removes everything in dir — Raft data, identity, keyring,
// logs, state ID, the removed marker — but the boot stage's own PID lock
// and control socket, which belong to the process-mode parent that runs
// this node and outlives the reset. The directory itself stays (it may be
// a mount point, the state disk under pid1).
func wipeState(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wipe state: %w", err)
	}
	keep := map[string]bool{filepath.Base(boot.PIDPath(dir)): true, filepath.Base(boot.SocketPath(dir)): true}
	var errs []error
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wipe state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// componentStopTimeout bounds how long Run waits for its controller runtime
// and supervisor to stop before it stops the API and the agent anyway.
const componentStopTimeout = 10 * time.Second

// waitStopped waits for the node's components to return. A component that
// ignores its context would otherwise hold the node up forever: on a
// power request nobody kills cairnd (SIGTERM has the boot stage's SIGKILL
// behind it), and its API keeps answering with the old boot ID. After
// timeout the node goes on stopping and logs every goroutine's stack, so
// the stuck one can be found.
func waitStopped(wg *sync.WaitGroup, timeout time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(timeout):
	}
	var stacks strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
	log.Error("components did not stop in time; stopping without them", "waited", timeout, "goroutines", stacks.String())
}

// kernelBootID is the kernel's ID of the current boot.
const kernelBootID = "/proc/sys/kernel/random/boot_id"

// bootID identifies this start of the node for Version: the kernel's boot
// ID when cairnd is the machine's init (a reboot is a new kernel boot), a
// random ID made now otherwise, since in process and container mode a
// reboot restarts cairnd, not the kernel.
func bootID(mode string) string {
	if mode == capability.ModePID1 {
		if data, err := os.ReadFile(kernelBootID); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
