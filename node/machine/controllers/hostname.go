package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/runtime"
)

// UTSNamespace is the hostname of cairnd's UTS namespace. The kernel's
// (network.Hostname, network.SetHostname) is the default; tests pass a
// fake, since a controller's pass may run on any thread and only a
// thread can be moved into a throwaway namespace.
type UTSNamespace interface {
	Hostname() (string, error)
	SetHostname(name string) error
}

// Hostname produces HostnameStatus/status by setting the hostname of
// NetworkSpec/desired (the config's network.hostname, or the node's name
// when it sets none) where the machine has capability.Hostname, and
// reporting the hostname the kernel has. It reads before it writes, so a
// pass with nothing to change makes no syscall but uname(2). Without the
// capability (process mode: the UTS namespace is the host's) it reports
// "not applied" with the reason. A failure to set is a status only: it
// recurs until the config changes, and must not fail the boot.
type Hostname struct {
	// NodeName is the hostname when the config sets none.
	NodeName     string
	Capabilities capability.Set
	// UTS is the namespace to set; nil means the kernel's.
	UTS    UTSNamespace
	Logger *slog.Logger
}

// Name implements runtime.Controller.
func (c *Hostname) Name() string { return "hostname" }

// Inputs implements runtime.Controller.
func (c *Hostname) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeNetworkSpec, ID: IDDesired}}
}

// Outputs implements runtime.Controller.
func (c *Hostname) Outputs() []string { return []string{TypeHostnameStatus} }

// Run implements runtime.Controller.
func (c *Hostname) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	res, err := r.Get(TypeNetworkSpec, IDDesired)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	spec, ok := res.Spec.(NetworkSpecSpec)
	if !ok {
		return fmt.Errorf("network spec resource holds %T", res.Spec)
	}
	uts := c.UTS
	if uts == nil {
		uts = kernelUTS{}
	}
	st := HostnameStatusSpec{Desired: spec.Desired.Hostname}
	if st.Desired == "" {
		st.Desired = c.NodeName
	}
	cur, err := uts.Hostname()
	switch {
	case err != nil:
		st.Error = err.Error()
	case cur == st.Desired:
		st.Observed, st.Applied = cur, true
	case !c.Capabilities.Has(capability.Hostname):
		st.Observed, st.Error = cur, "not applied: "+c.Capabilities.Reason(capability.Hostname)
	default:
		st.Observed = cur
		if err := uts.SetHostname(st.Desired); err != nil {
			st.Error = err.Error()
			break
		}
		if now, err := uts.Hostname(); err == nil {
			st.Observed = now
		}
		st.Applied = st.Observed == st.Desired
		if c.Logger != nil {
			c.Logger.Info("hostname set", "hostname", st.Desired, "was", cur)
		}
	}
	return w.Put(TypeHostnameStatus, IDStatus, st, nil)
}

// kernelUTS is the UTS namespace of this process.
type kernelUTS struct {
	// set sets the hostname; nil means network.SetHostname. Tests record
	// instead, so a broken guard never renames the host.
	set func(name string) error
}

func (kernelUTS) Hostname() (string, error) { return network.Hostname() }

// SetHostname refuses, rather than rename the host, where cairnd runs
// beside other processes in their UTS namespace (sharedNamespace).
func (u kernelUTS) SetHostname(name string) error {
	if sharedNamespace("uts") {
		return ErrSharedUTS
	}
	if u.set != nil {
		return u.set(name)
	}
	return network.SetHostname(name)
}
