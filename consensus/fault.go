package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// FaultPoint names a place in the store where a test can make storage fail,
// as etcd names its failpoints. Each one stands for a real fault the store
// must survive by stopping (DESIGN.md, "Fail-stop").
type FaultPoint string

// The store's fault points.
const (
	// FaultLogWrite makes a write to the Raft log store (StoreLogs, or the
	// DeleteRange of a truncation) fail, as a full or failing disk would.
	FaultLogWrite FaultPoint = "logwrite"
	// FaultApply makes applying a committed command fail, as an entry that
	// cannot be decoded would.
	FaultApply FaultPoint = "apply"
	// FaultRestore makes restoring a snapshot (installed by the leader, or
	// read at start) fail as corrupt.
	FaultRestore FaultPoint = "restore"
)

// FaultEnv is the environment variable cairnd reads at start to arm a fault
// point in a running process (integration tests only): "POINT" or
// "POINT-after:N", such as "logwrite-after:20". See ParseFault.
const FaultEnv = "CAIRN_FAULT"

// Fault arms one fault point.
type Fault struct {
	Point FaultPoint
	// After is how many hits of the point still succeed: the fault fires on
	// hit After+1, once.
	After int
	// OncePerDataDir fires the fault at most once per data directory: firing
	// writes DataDir/fault-POINT.fired, and a store that finds that file does
	// not arm the point. A process restarted with the same trigger (its boot
	// stage keeps the environment) then runs clean.
	OncePerDataDir bool
}

// ParseFault parses the FaultEnv syntax, "POINT" or "POINT-after:N". The
// result fires once per data directory.
func ParseFault(s string) (Fault, error) {
	point, after := s, 0
	if p, n, ok := strings.Cut(s, "-after:"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return Fault{}, fmt.Errorf("%w: fault %q: after:%s is not a count", ErrInvalid, s, n)
		}
		point, after = p, v
	}
	switch FaultPoint(point) {
	case FaultLogWrite, FaultApply, FaultRestore:
	default:
		return Fault{}, fmt.Errorf("%w: fault %q: unknown fault point %q (known: %s, %s, %s)",
			ErrInvalid, s, point, FaultLogWrite, FaultApply, FaultRestore)
	}
	return Fault{Point: FaultPoint(point), After: after, OncePerDataDir: true}, nil
}

// faultErr is the error an injected fault produces at its point.
func faultErr(p FaultPoint) error {
	return fmt.Errorf("fault point %s: %w", p, ErrFaultInjected)
}

// faultPoint is one armed-or-not fault point. The zero value is disarmed.
type faultPoint struct {
	armed  atomic.Bool
	left   atomic.Int64 // hits that still succeed
	marker atomic.Pointer[string]
}

func (p *faultPoint) arm(after int, marker string) {
	p.left.Store(int64(after))
	if marker != "" {
		p.marker.Store(&marker)
	} else {
		p.marker.Store(nil)
	}
	p.armed.Store(true)
}

// fire reports whether this hit fails, disarming the point when it does.
// It is cheap when disarmed: one atomic load on the hot path.
func (p *faultPoint) fire() bool {
	if p == nil || !p.armed.Load() {
		return false
	}
	if p.left.Add(-1) >= 0 || !p.armed.CompareAndSwap(true, false) {
		return false
	}
	if m := p.marker.Load(); m != nil {
		_ = os.WriteFile(*m, nil, 0o600) // best effort: the marker only disarms restarts
	}
	return true
}

// faults are the store's fault points, shared with the FSM.
type faults struct {
	logWrite, apply, restore faultPoint
}

func (f *faults) point(p FaultPoint) *faultPoint {
	switch p {
	case FaultLogWrite:
		return &f.logWrite
	case FaultApply:
		return &f.apply
	case FaultRestore:
		return &f.restore
	}
	return nil
}

// InjectFault arms a fault point (see FaultPoint): its hit After+1 fails,
// and the store stops as it would on the real fault. It reports whether
// the point was armed: an unknown point is not, nor a OncePerDataDir fault
// that already fired in this data directory.
func (s *Store) InjectFault(f Fault) bool {
	p := s.faults.point(f.Point)
	if p == nil {
		return false
	}
	marker := ""
	if f.OncePerDataDir {
		marker = filepath.Join(s.cfg.DataDir, "fault-"+string(f.Point)+".fired")
		if _, err := os.Stat(marker); err == nil {
			s.log.Info("fault point already fired in this data directory; not armed", "fault", f.Point, "marker", marker)
			return false
		}
	}
	p.arm(f.After, marker)
	s.log.Warn("fault point armed", "fault", f.Point, "after", f.After)
	return true
}
