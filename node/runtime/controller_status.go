package runtime

import "time"

// TypeControllerStatus is the runtime's own output: one resource per
// controller and source (ID = its name) saying whether it runs, failed and
// is backing off, or is done — so a loop that stopped is visible, not just
// logged once (`cairnctl get controllerstatus`).
const TypeControllerStatus = "ControllerStatus"

// ownerRuntime owns ControllerStatus resources.
const ownerRuntime = "runtime"

// Controller and source states in ControllerStatus.
const (
	// StateRunning: a source's loop runs, or a controller's last pass
	// succeeded.
	StateRunning = "running"
	// StateFailing: the last run or pass failed; it is retried with
	// backoff.
	StateFailing = "failing"
	// StateDone: a source finished its job and is not restarted.
	StateDone = "done"
)

// ControllerStatusSpec is the spec of a ControllerStatus resource.
type ControllerStatusSpec struct {
	// Kind is "controller" or "source".
	Kind  string `json:"kind"`
	State string `json:"state"`
	// Failures counts failed runs or passes since the node started.
	Failures int `json:"failures"`
	// LastError is the latest failure's error.
	LastError string `json:"lastError,omitempty"`
	// LastFailure is when it happened.
	LastFailure time.Time `json:"lastFailure,omitzero"`
}

// report publishes c's state after a run or pass. Its failure count and
// last error live in the resource itself, read back here, so the runtime
// keeps no second copy.
func (rt *Runtime) report(c *registered, state string, err error) {
	kind := "controller"
	if c.source != nil {
		kind = "source"
	}
	spec := ControllerStatusSpec{Kind: kind}
	if cur, gerr := rt.st.Get(TypeControllerStatus, c.name); gerr == nil {
		if prev, ok := cur.Spec.(ControllerStatusSpec); ok {
			spec = prev
		}
	}
	spec.State = state
	if err != nil {
		spec.Failures++
		spec.LastError, spec.LastFailure = err.Error(), time.Now()
	}
	if _, perr := rt.st.Put(Resource{Type: TypeControllerStatus, ID: c.name, Spec: spec, Owner: ownerRuntime}); perr != nil {
		rt.log.Warn("publish controller status", "controller", c.name, "err", perr)
	}
}
