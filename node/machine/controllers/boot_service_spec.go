package controllers

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/cairn-project/cairn/node/runtime"
)

// BootServiceSpecs publishes the ServiceSpecs that cairnd's boot asked for
// before node.Run, one per entry of Specs (ID = the service name). Today
// that is only the test-only stand-in service of cairn.testservice=
// (cmd/cairnd test-orphans); the services derived from the config (etcd,
// kubelet) will have controllers of their own, and since a resource type
// has one writer, this one then becomes one of their inputs or merges
// with them. Its facts are fixed at boot, like BootStatus's.
type BootServiceSpecs struct {
	Specs map[string]ServiceSpecSpec
}

// Name implements runtime.Controller.
func (c *BootServiceSpecs) Name() string { return "boot-service-specs" }

// Inputs implements runtime.Controller: none, the specs are fixed.
func (c *BootServiceSpecs) Inputs() []runtime.Input { return nil }

// Outputs implements runtime.Controller.
func (c *BootServiceSpecs) Outputs() []string { return []string{TypeServiceSpec} }

// Run implements runtime.Controller. A spec the supervisor could not run
// is not published, and fails the pass, so ControllerStatus shows it.
func (c *BootServiceSpecs) Run(_ context.Context, _ runtime.Reader, w runtime.Writer) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Specs)) {
		spec := c.Specs[name]
		if _, err := spec.supervisorSpec(name); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, w.Put(TypeServiceSpec, name, spec, nil))
	}
	return errors.Join(errs...)
}
