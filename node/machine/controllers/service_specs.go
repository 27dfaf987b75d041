package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/runtime"
)

// ServiceSpecs is the one writer of ServiceSpec (a resource type has one
// owner): it merges the services cairnd's boot asked for before node.Run
// (Boot: today only the test-only stand-in of cairn.testservice=, cmd/cairnd
// test-orphans) with the ones controllers derive from the config, each of
// which publishes its own type (EtcdService, KubeService, KubeletService). The ID of a
// ServiceSpec is the service name; a derived service wins over a boot one
// of the same name.
type ServiceSpecs struct {
	Boot map[string]ServiceSpecSpec
}

// derivedServices are the per-service types merged into ServiceSpec, with
// the service name each publishes under.
var derivedServices = []struct{ typ, name string }{
	{TypeEtcdService, "etcd"},
	{TypeKubeService, kube.APIServer},
	{TypeKubeService, kube.ControllerManager},
	{TypeKubeService, kube.Scheduler},
	{TypeKubeletService, ServiceContainerd},
	{TypeKubeletService, ServiceImageImport},
	{TypeKubeletService, ServiceKubelet},
	{TypeKubeletService, ServiceKubeProxy},
}

// Name implements runtime.Controller.
func (c *ServiceSpecs) Name() string { return "service-specs" }

// Inputs implements runtime.Controller.
func (c *ServiceSpecs) Inputs() []runtime.Input {
	var in []runtime.Input
	for _, d := range derivedServices {
		in = append(in, runtime.Input{Type: d.typ})
	}
	return in
}

// Outputs implements runtime.Controller.
func (c *ServiceSpecs) Outputs() []string { return []string{TypeServiceSpec} }

// Run implements runtime.Controller. A spec the supervisor could not run
// is not published, and fails the pass, so ControllerStatus shows it.
func (c *ServiceSpecs) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	want := maps.Clone(c.Boot)
	if want == nil {
		want = map[string]ServiceSpecSpec{}
	}
	var errs []error
	for _, d := range derivedServices {
		res, err := r.Get(d.typ, d.name)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		spec, ok := res.Spec.(ServiceSpecSpec)
		if !ok {
			errs = append(errs, fmt.Errorf("%w %s: resource holds %T", ErrInvalidServiceSpec, d.name, res.Spec))
			continue
		}
		want[d.name] = spec
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		spec := want[name]
		if _, err := spec.supervisorSpec(name); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, w.Put(TypeServiceSpec, name, spec, nil))
	}
	return errors.Join(errs...)
}
