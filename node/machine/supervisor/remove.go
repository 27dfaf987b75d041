package supervisor

import (
	"fmt"
)

// Remove stops a service, waits for its process to exit, and forgets it:
// it leaves List, its log follows end, and its name may be added again.
// Services that depend on it keep running (dependencies gate starts only)
// and a dependent that has not started waits for it to be defined again.
// Together with Add it is how a set of specs is converged: a changed spec
// is a Remove of the old one and an Add of the new one.
func (s *Supervisor) Remove(name string) error {
	s.mu.Lock()
	svc, ok := s.services[name]
	running := s.phase == phaseRunning
	quit := svc.quitLocked(ok)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("remove %s: %w", name, ErrNotFound)
	}
	if running && quit != nil {
		// A runner already gone (the supervisor is stopping) has nothing
		// left to stop.
		_ = svc.send(cmdStop, "removed")
		quit()
		<-svc.done
	}
	s.mu.Lock()
	if s.services[name] == svc {
		delete(s.services, name)
		s.notifyLocked()
	}
	s.mu.Unlock()
	svc.out.close()
	svc.log.Info("service removed")
	return nil
}

// Changed returns a channel that is closed at the next change of any
// service's state or health, or of the set of services: a status observer
// waits on it, then reads List again.
func (s *Supervisor) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// quitLocked returns the runner's quit function, if it was spawned; the
// caller holds s.mu.
func (r *service) quitLocked(exists bool) func() {
	if !exists || r.quit == nil {
		return nil
	}
	return r.quit
}
