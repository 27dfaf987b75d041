package controllers

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/runtime"
)

// runnerRecorder is a stateful in-memory ServiceRunner: the services it
// runs, by name.
type runnerRecorder struct {
	mu   sync.Mutex
	runs map[string]supervisor.Spec
}

func (r *runnerRecorder) Add(spec supervisor.Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string]supervisor.Spec{}
	}
	r.runs[spec.Name] = spec
	return nil
}

func (r *runnerRecorder) Remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.runs, name)
	return nil
}

func (r *runnerRecorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.runs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// The boot's services become ServiceSpecs that ServiceApply hands to the
// supervisor; one the supervisor could not run is left out and fails the
// pass, without holding up the others.
func TestServiceSpecsReachTheSupervisor(t *testing.T) {
	st := runtime.NewState()
	runner := &runnerRecorder{}
	rt := start(t, st,
		&ServiceSpecs{Boot: map[string]ServiceSpecSpec{
			"test-orphans": {Path: "/init", Args: []string{"test-orphans"}, StopTimeout: 5 * time.Second},
			"bad":          {Path: "/init", Restart: "sometimes"},
		}},
		&ServiceApply{Supervisor: runner},
	)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"test-orphans"}, runner.names())
	}, 5*time.Second, time.Millisecond)
	spec, ok := specOf[ServiceSpecSpec](st, TypeServiceSpec, "test-orphans")
	require.True(t, ok)
	require.Equal(t, []string{"test-orphans"}, spec.Args)
	_, err := st.Get(TypeServiceSpec, "bad")
	require.Error(t, err, "an invalid spec is not published")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ps, ok := rt.PassStatus("service-specs")
		require.True(ct, ok)
		require.Error(ct, ps.Err)
		assert.ErrorIs(ct, ps.Err, ErrInvalidServiceSpec)
	}, 5*time.Second, time.Millisecond)
}
