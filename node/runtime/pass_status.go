package runtime

import "sync"

// PassStatus is what the runtime records about one controller's passes. It
// exists so that a test (or a diagnostic) can know that a pass which saw a
// given change has ended, instead of guessing from elapsed time: a check
// that "nothing was written" means something only after such a pass.
type PassStatus struct {
	// Passes counts the controller's passes that have ended, failed ones
	// included.
	Passes uint64
	// Seen is the State's latest resource version as of the start of the
	// latest ended pass. That pass could read every write up to it: once
	// Seen ≥ v, a pass has run to the end after the Put that returned
	// version v.
	Seen uint64
	// Err is the latest ended pass's error; nil after a success.
	Err error
}

// passRecord is a controller's PassStatus, written by its loop and read by
// PassStatus.
type passRecord struct {
	mu sync.Mutex
	st PassStatus
}

func (r *passRecord) ended(seen uint64, err error) {
	r.mu.Lock()
	r.st.Passes++
	r.st.Seen, r.st.Err = seen, err
	r.mu.Unlock()
}

func (r *passRecord) get() PassStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// PassStatus returns the pass record of the controller registered under
// name, and false if there is none.
func (rt *Runtime) PassStatus(name string) (PassStatus, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, c := range rt.ctrls {
		if c.name == name {
			return c.record.get(), true
		}
	}
	return PassStatus{}, false
}

// version returns the latest version the State has handed out.
func (s *State) version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}
