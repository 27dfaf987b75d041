package controllers

import (
	"context"
	"time"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/runtime"
)

// ServiceObserver is what ServiceStatus needs from the supervisor.
type ServiceObserver interface {
	List() []supervisor.Status
	Changed() <-chan struct{}
}

// ServiceStatusSpec is the spec of a ServiceStatus resource: one supervised
// service as the supervisor reports it.
type ServiceStatusSpec struct {
	State        string    `json:"state"`
	Health       string    `json:"health,omitempty"`
	PID          int       `json:"pid,omitempty"`
	Restarts     int       `json:"restarts"`
	LastExitCode int       `json:"lastExitCode"`
	LastError    string    `json:"lastError,omitempty"`
	Message      string    `json:"message,omitempty"`
	Since        time.Time `json:"since"`
}

// ServiceStatus is the source of ServiceStatus resources, one per
// supervised service (ID = its name): it reads the supervisor after every
// change it signals and deletes the status of a service that is gone. It
// only observes; ServiceApply changes what runs.
type ServiceStatus struct {
	Supervisor ServiceObserver
}

// Name implements runtime.Source.
func (s *ServiceStatus) Name() string { return "service-status" }

// Outputs implements runtime.Source.
func (s *ServiceStatus) Outputs() []string { return []string{TypeServiceStatus} }

// Run implements runtime.Source.
func (s *ServiceStatus) Run(ctx context.Context, w runtime.Writer) error {
	written := map[string]bool{}
	for {
		changed := s.Supervisor.Changed()
		now := map[string]bool{}
		for _, st := range s.Supervisor.List() {
			now[st.Name] = true
			if err := w.Put(TypeServiceStatus, st.Name, statusSpec(st), nil); err != nil {
				return err
			}
		}
		for name := range written {
			if !now[name] {
				if err := w.Delete(TypeServiceStatus, name); err != nil {
					return err
				}
			}
		}
		written = now
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func statusSpec(st supervisor.Status) ServiceStatusSpec {
	out := ServiceStatusSpec{
		State: st.State.String(), PID: st.PID, Restarts: st.Restarts,
		LastExitCode: st.LastExitCode, Message: st.Message, Since: st.Since,
	}
	if st.Health != supervisor.HealthNone {
		out.Health = st.Health.String()
	}
	if st.LastError != nil {
		out.LastError = st.LastError.Error()
	}
	return out
}
