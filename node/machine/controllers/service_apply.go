package controllers

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/runtime"
)

// ServiceRunner is what ServiceApply needs from the supervisor.
type ServiceRunner interface {
	Add(spec supervisor.Spec) error
	Remove(name string) error
}

// ServiceApply converges the supervisor to the ServiceSpec resources: a new
// spec is added, a changed one replaces its service (the old process is
// stopped, the new one started), and the service of a spec that is gone is
// stopped and removed. It records what it applied as ServiceApplied (ID =
// the service name, spec = the ServiceSpec it ran), which is how the next
// pass tells a changed spec from an unchanged one; it never observes the
// processes (ServiceStatus does). A service that fails to apply does not
// hold up the others; the pass fails and the runtime retries it.
type ServiceApply struct {
	Supervisor ServiceRunner
}

// Name implements runtime.Controller.
func (c *ServiceApply) Name() string { return "service-apply" }

// Inputs implements runtime.Controller.
func (c *ServiceApply) Inputs() []runtime.Input { return []runtime.Input{{Type: TypeServiceSpec}} }

// Outputs implements runtime.Controller.
func (c *ServiceApply) Outputs() []string { return []string{TypeServiceApplied} }

// Run implements runtime.Controller.
func (c *ServiceApply) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	desired, err := r.List(TypeServiceSpec)
	if err != nil {
		return err
	}
	applied, err := r.List(TypeServiceApplied)
	if err != nil {
		return err
	}
	prev := map[string]any{}
	for _, a := range applied {
		prev[a.ID] = a.Spec
	}
	var errs []error
	want := map[string]bool{}
	for _, d := range desired {
		want[d.ID] = true
		spec, ok := d.Spec.(ServiceSpecSpec)
		if !ok {
			errs = append(errs, fmt.Errorf("%w %s: resource holds %T", ErrInvalidServiceSpec, d.ID, d.Spec))
			continue
		}
		if old, had := prev[d.ID]; had && reflect.DeepEqual(old, spec) {
			errs = append(errs, w.Put(TypeServiceApplied, d.ID, spec, nil))
			continue
		}
		if err := c.replace(d.ID, spec); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, w.Put(TypeServiceApplied, d.ID, spec, nil))
	}
	for name := range prev {
		if !want[name] {
			// Its ServiceApplied is removed by the runtime after this pass.
			if err := c.Supervisor.Remove(name); err != nil && !errors.Is(err, supervisor.ErrNotFound) {
				errs = append(errs, fmt.Errorf("remove service %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// replace runs spec as service name, removing whatever runs under that
// name first.
func (c *ServiceApply) replace(name string, spec ServiceSpecSpec) error {
	s, err := spec.supervisorSpec(name)
	if err != nil {
		return err
	}
	if err := c.Supervisor.Remove(name); err != nil && !errors.Is(err, supervisor.ErrNotFound) {
		return fmt.Errorf("replace service %s: %w", name, err)
	}
	if err := c.Supervisor.Add(s); err != nil {
		return fmt.Errorf("add service %s: %w", name, err)
	}
	return nil
}
