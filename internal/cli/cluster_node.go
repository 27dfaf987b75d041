package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairn-project/cairn/node/machine/boot"
)

// Timeouts of the cluster commands' talks with boot stages.
const (
	// bootStatusTimeout bounds a status request; a boot stage answers it
	// without waiting for anything.
	bootStatusTimeout = 2 * time.Second
	// bootActionTimeout bounds a stop, start, restart or shutdown, which
	// waits for the child to exit (up to boot.DefaultStopTimeout).
	bootActionTimeout = boot.DefaultStopTimeout + 5*time.Second
	// bootStartTimeout is how long a new boot stage has to serve its socket.
	bootStartTimeout = 10 * time.Second
)

// The states cluster show reports for a node besides the boot stage's own
// (running, backoff, stopped).
const (
	// stateDown: no boot stage and no process for the node.
	stateDown = "down"
	// stateUnsupervised: no boot stage answers, yet a cairnd for the node
	// runs (started by hand, or left by an old cairnctl).
	stateUnsupervised = "unsupervised"
	// stateUnreachable: a boot stage process runs but its socket does not
	// answer (it is starting, or hung).
	stateUnreachable = "unreachable"
)

// The boot stage's child states, as cluster show prints them.
const (
	stateRunning = string(boot.StateRunning)
	stateBackoff = string(boot.StateBackoff)
	stateStopped = string(boot.StateStopped)
)

// osProcess is a process found in /proc that refers to a cluster directory.
type osProcess struct {
	pid  int
	ppid int  // its parent's PID, 0 when unknown
	boot bool // runs "cairnd boot"
}

// nodeServices drops the processes a cairnd of the list started itself:
// the services it supervises (etcd) refer to the node's directory too, but
// they are its cairnd's, not processes running outside the boot stage.
func nodeServices(ps []osProcess) []osProcess {
	cairnd := map[int]bool{}
	for _, p := range ps {
		if !p.boot {
			cairnd[p.pid] = true
		}
	}
	var out []osProcess
	for _, p := range ps {
		if !cairnd[p.ppid] {
			out = append(out, p)
		}
	}
	return out
}

// observedNode is a node of state.json with what runs for it now, from its
// boot stage's control socket and a /proc scan, never from recorded PIDs.
type observedNode struct {
	nodeState
	// Running is whether a cairnd runs for the node, under its boot stage
	// or not.
	Running bool `json:"running"`
	// State is the boot stage's child state, or down, unsupervised or
	// unreachable.
	State string `json:"state"`
	// PID is the node's cairnd, 0 if none runs.
	PID int `json:"pid"`
	// BootPID is the node's boot stage, 0 if none runs.
	BootPID  int        `json:"bootPid"`
	Restarts int        `json:"restarts"`
	Since    *time.Time `json:"since,omitempty"`
	LastExit string     `json:"lastExit,omitempty"`
	// Unsupervised are the node's processes no boot stage of it runs.
	Unsupervised []int `json:"unsupervised,omitempty"`
}

// observeNode asks n's boot stage for its status and adds the processes
// that refer to n's state directory but are not that boot stage's.
func observeNode(ctx context.Context, n nodeState) observedNode {
	o := observedNode{nodeState: n, State: stateDown}
	cctx, cancel := context.WithTimeout(ctx, bootStatusTimeout)
	st, err := boot.Call(cctx, n.StateDir, boot.OpStatus)
	cancel()
	if err == nil {
		o.State, o.PID, o.BootPID = string(st.State), st.ChildPID, st.PID
		o.Running = st.State == boot.StateRunning
		o.Restarts, o.LastExit = st.Restarts, st.LastExit
		since := st.Since
		o.Since = &since
	}
	for _, p := range nodeServices(processesOf(n.StateDir)) {
		switch {
		case p.pid == o.BootPID || p.pid == o.PID:
		case p.boot && o.BootPID == 0:
			o.BootPID, o.State = p.pid, stateUnreachable
		default:
			o.Unsupervised = append(o.Unsupervised, p.pid)
		}
	}
	if len(o.Unsupervised) > 0 && !o.Running {
		o.Running = true
		if o.PID == 0 {
			o.PID = o.Unsupervised[0]
		}
		if o.BootPID == 0 {
			o.State = stateUnsupervised
		}
	}
	return o
}

// exited reports whether the node stopped or crashed since it was
// started: nothing runs it any more, or it had to be restarted.
func (o observedNode) exited() bool {
	return (!o.Running && o.BootPID == 0) || o.State == stateBackoff || o.Restarts > 0
}

// observeNodes observes every node of st, in order.
func observeNodes(ctx context.Context, st *clusterState) []observedNode {
	out := make([]observedNode, len(st.Nodes))
	for i, n := range st.Nodes {
		out[i] = observeNode(ctx, n)
	}
	return out
}

// uptime is how long the node's cairnd has run, "-" if not under a boot
// stage.
func (o observedNode) uptime(now time.Time) string {
	if o.State != stateRunning || o.Since == nil {
		return "-"
	}
	return now.Sub(*o.Since).Round(time.Second).String()
}

// cmdlineRefersTo reports whether a NUL-separated command line has an
// argument that is dir, a path below it, or a flag's "=dir…" value: so
// /x/nodes/cp1 does not match /x/nodes/cp10.
func cmdlineRefersTo(cmdline []byte, dir string) bool {
	for arg := range strings.SplitSeq(string(cmdline), "\x00") {
		for i := strings.Index(arg, dir); i >= 0; {
			end := i + len(dir)
			if (i == 0 || arg[i-1] == '=') && (end == len(arg) || arg[end] == '/') {
				return true
			}
			next := strings.Index(arg[i+1:], dir)
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return false
}

// describe says in a few words what runs for the node.
func (o observedNode) describe() string {
	var parts []string
	if o.BootPID != 0 {
		parts = append(parts, fmt.Sprintf("boot stage pid %d", o.BootPID))
	}
	if o.PID != 0 {
		parts = append(parts, fmt.Sprintf("cairnd pid %d", o.PID))
	}
	parts = append(parts, o.State)
	if o.LastExit != "" && o.State != stateRunning {
		parts = append(parts, "last "+o.LastExit)
	}
	if len(o.Unsupervised) > 0 {
		parts = append(parts, fmt.Sprintf("unsupervised pids %v", o.Unsupervised))
	}
	return strings.Join(parts, ", ")
}

// bootArgs are the arguments of a node's boot stage (and, without "boot",
// of its cairnd).
func bootArgs(st *clusterState, n nodeState) []string {
	args := []string{"boot", "--config", st.ConfigFile, "--name", n.Name, "--state-dir", n.StateDir, "--log-format", "text"}
	if st.Timings != "" {
		args = append(args, "--timings", st.Timings)
	}
	return args
}

// startBoot starts a node's boot stage detached and waits until its socket
// answers, or until it exits.
func startBoot(ctx context.Context, cairnd string, st *clusterState, n nodeState) (boot.Status, error) {
	pid, err := startDetached(cairnd, bootArgs(st, n), n.LogFile)
	if err != nil {
		return boot.Status{}, err
	}
	deadline := time.Now().Add(bootStartTimeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, bootStatusTimeout)
		s, err := boot.Call(cctx, n.StateDir, boot.OpStatus)
		cancel()
		switch {
		case err == nil && s.PID == pid:
			return s, nil
		case err == nil:
			return s, fmt.Errorf("%w: boot stage pid %d answers, not the one started (%d)", boot.ErrRunning, s.PID, pid)
		case !processRunning(pid):
			return boot.Status{}, fmt.Errorf("%w: boot stage pid %d; see %s", ErrNodeExited, pid, n.LogFile)
		case !time.Now().Before(deadline) || ctx.Err() != nil:
			return boot.Status{}, fmt.Errorf("boot stage pid %d did not answer on %s in %s: %w", pid, boot.SocketPath(n.StateDir), bootStartTimeout, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// terminateAll stops pids that still refer to dir: SIGTERM, SIGKILL after
// stopGrace. It returns the PIDs that are gone at the end.
func terminateAll(ctx context.Context, pids []int, dir string) []int {
	var signalled []int
	for _, pid := range pids {
		if processRunning(pid) && processIsNode(pid, dir) && terminate(pid) == nil {
			signalled = append(signalled, pid)
		}
	}
	waitGone(ctx, signalled, stopGrace)
	for _, pid := range signalled {
		if processRunning(pid) && processIsNode(pid, dir) {
			_ = killProcess(pid)
		}
	}
	waitGone(ctx, signalled, time.Second)
	return slices.DeleteFunc(signalled, processRunning)
}

// waitGone waits up to d for every pid to end.
func waitGone(ctx context.Context, pids []int, d time.Duration) {
	deadline := time.Now().Add(d)
	for slices.ContainsFunc(pids, processRunning) && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
