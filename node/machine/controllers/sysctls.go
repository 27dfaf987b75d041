package controllers

import (
	"context"
	"errors"
	"log/slog"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/sysctl"
	"github.com/cairn-project/cairn/node/runtime"
)

// Sysctls sets the kernel parameters the SysctlSpec resources name and
// reports each as SysctlStatus (ID = the spec's ID): the desired value,
// the value read back, whether the kernel holds it, and why not.
//
// A pass reads each parameter first and writes only one that differs, so
// a pass after a spec change rewrites nothing else, and a value the kernel
// already holds counts as applied even where the write would be refused
// (a container's read-only /proc/sys). Where the machine lacks
// capability.Sysctls (process mode: the parameters are the host's) it
// never writes and reports "not applied" with the reason, with the value
// it observes.
//
// A removed spec loses its status (runtime cleanup); the kernel keeps the
// value, as sysctl(8) and Talos leave it: what it was before is not known.
//
// A bad parameter never fails the boot, nor the pass: a missing one, a
// refused value or a denied write recurs until the config changes, so it
// is a status only. A transient error (the kernel busy) is reported too,
// and fails the pass so the runtime retries it with backoff.
type Sysctls struct {
	Capabilities capability.Set
	// Root is where the parameters are; "" means /proc/sys.
	Root   string
	Logger *slog.Logger
}

// Name implements runtime.Controller.
func (c *Sysctls) Name() string { return "sysctls" }

// Inputs implements runtime.Controller.
func (c *Sysctls) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeSysctlSpec}}
}

// Outputs implements runtime.Controller.
func (c *Sysctls) Outputs() []string { return []string{TypeSysctlStatus} }

// Run implements runtime.Controller.
func (c *Sysctls) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	specs, err := r.List(TypeSysctlSpec)
	if err != nil {
		return err
	}
	var errs []error
	for _, res := range specs {
		spec, ok := res.Spec.(SysctlSpecSpec)
		if !ok {
			errs = append(errs, errors.New("sysctl spec "+res.ID+" holds another type"))
			continue
		}
		st, err := c.apply(res.ID, spec.Value)
		if err != nil && sysctl.Transient(err) {
			errs = append(errs, err)
		}
		errs = append(errs, w.Put(TypeSysctlStatus, res.ID, st, nil))
	}
	return errors.Join(errs...)
}

// apply converges one parameter and returns its status, and the error
// that kept it from the desired value.
func (c *Sysctls) apply(name, value string) (SysctlStatusSpec, error) {
	root := c.Root
	if root == "" {
		root = sysctl.DefaultRoot
	}
	st := SysctlStatusSpec{Desired: value}
	cur, rerr := sysctl.Get(root, name)
	if rerr == nil {
		st.Observed = cur
		if sysctl.Equal(cur, value) {
			st.Applied = true
			return st, nil
		}
	}
	// A parameter the kernel lacks is named as such in every mode: a typo
	// in the config shows up in process mode too.
	if errors.Is(rerr, sysctl.ErrNoParameter) || errors.Is(rerr, sysctl.ErrNotParameter) || errors.Is(rerr, sysctl.ErrInvalidName) {
		st.Error = rerr.Error()
		return st, rerr
	}
	if !c.Capabilities.Has(capability.Sysctls) {
		st.Error = "not applied: " + c.Capabilities.Reason(capability.Sysctls)
		return st, nil
	}
	// On the real /proc/sys, a cairnd that is not PID 1 writes only what
	// is its own (beside.go): never the host's parameters.
	if c.Root == "" {
		if err := hostSysctl(name); err != nil {
			st.Error = "not applied: " + err.Error()
			return st, nil
		}
	}
	// Any other read error (a write-only parameter, say) does not stop
	// the write: the kernel has the last word.
	if err := sysctl.Set(root, name, value); err != nil {
		st.Error = err.Error()
		return st, err
	}
	st.Applied = true
	if cur, err := sysctl.Get(root, name); err == nil {
		st.Observed = cur
	}
	if c.Logger != nil {
		c.Logger.Info("sysctl set", "name", name, "value", value, "was", cur)
	}
	return st, nil
}
