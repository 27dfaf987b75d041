package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Controller is one reconcile loop. The runtime calls Run once at start and
// again whenever one of its inputs changes; each call is one complete pass
// that reads what it needs and writes every output that should exist.
// Outputs the pass does not write are deleted after it succeeds, so a
// controller never needs to remember what it wrote before.
//
// Run must not start goroutines that outlive it, and should return promptly
// when ctx ends. A returned error (or a panic) makes the runtime retry the
// pass with exponential backoff.
type Controller interface {
	// Name identifies the controller in logs and owns its outputs; it must
	// be unique within a Runtime.
	Name() string
	// Inputs lists what Run may read and what wakes it. Read once, at
	// registration.
	Inputs() []Input
	// Outputs lists the resource types Run writes; each type belongs to
	// exactly one controller. Read once, at registration.
	Outputs() []string
	// Run performs one reconcile pass.
	Run(ctx context.Context, r Reader, w Writer) error
}

// Input names a resource type a controller reads, optionally narrowed to
// one ID. A narrowed input allows Get of that ID only, not List, and wakes
// the controller only when that resource changes.
type Input struct {
	Type string
	ID   string
}

func (in Input) matches(typ, id string) bool {
	return in.Type == typ && (in.ID == "" || in.ID == id)
}

// Reader is a controller's read access during a pass. It serves declared
// inputs and, as in COSI, the controller's own output types (to compare
// desired with written state); anything else fails with ErrUndeclaredInput.
type Reader interface {
	// Get returns one resource, or ErrNotFound.
	Get(typ, id string) (Resource, error)
	// List returns every resource of a type, ordered by ID. It needs an
	// input declared for the whole type.
	List(typ string) ([]Resource, error)
}

// Writer is a controller's write access during a pass; it writes only the
// controller's declared output types (ErrUndeclaredOutput otherwise), always
// as that controller's resources.
type Writer interface {
	// Put creates or updates an output and marks it as written by this
	// pass. Writing the same spec and labels again is a cheap no-op.
	Put(typ, id string, spec any, labels map[string]string) error
	// Delete removes an output now; deleting one that does not exist
	// succeeds.
	Delete(typ, id string) error
}

// registered is a controller with its declarations captured at
// registration, so a controller cannot widen its access later.
type registered struct {
	source  Source // set for a source instead of ctrl
	ctrl    Controller
	name    string
	inputs  []Input
	outputs []string
	record  passRecord
}

func (c *registered) outputDeclared(typ string) bool { return slices.Contains(c.outputs, typ) }

// canRead reports whether c declared read access to typ/id; id is empty
// for List.
func (c *registered) canRead(typ, id string) bool {
	if c.outputDeclared(typ) {
		return true
	}
	for _, in := range c.inputs {
		if in.Type == typ && (in.ID == "" || (id != "" && in.ID == id)) {
			return true
		}
	}
	return false
}

// pass is the Reader and Writer handed to one Run call. It records which
// outputs the pass wrote ("touched"), for cleanup.
type pass struct {
	st *State
	c  *registered

	mu      sync.Mutex
	ended   bool
	touched map[Input]struct{}
}

func newPass(st *State, c *registered) *pass {
	return &pass{st: st, c: c, touched: map[Input]struct{}{}}
}

// check fails when the pass is over or the access was not declared.
func (p *pass) check(write bool, typ, id string) error {
	p.mu.Lock()
	ended := p.ended
	p.mu.Unlock()
	switch {
	case ended:
		return fmt.Errorf("%s: %w", p.c.name, ErrPassEnded)
	case write && !p.c.outputDeclared(typ):
		return fmt.Errorf("controller %s: %w: %s", p.c.name, ErrUndeclaredOutput, typ)
	case !write && !p.c.canRead(typ, id):
		if id == "" {
			return fmt.Errorf("controller %s: list: %w: %s", p.c.name, ErrUndeclaredInput, typ)
		}
		return fmt.Errorf("controller %s: get: %w: %s/%s", p.c.name, ErrUndeclaredInput, typ, id)
	}
	return nil
}

func (p *pass) Get(typ, id string) (Resource, error) {
	if err := p.check(false, typ, id); err != nil {
		return Resource{}, err
	}
	return p.st.Get(typ, id)
}

func (p *pass) List(typ string) ([]Resource, error) {
	if err := p.check(false, typ, ""); err != nil {
		return nil, err
	}
	return p.st.List(typ), nil
}

func (p *pass) Put(typ, id string, spec any, labels map[string]string) error {
	if err := p.check(true, typ, id); err != nil {
		return err
	}
	if _, err := p.st.Put(Resource{Type: typ, ID: id, Spec: spec, Labels: labels, Owner: p.c.name}); err != nil {
		return err
	}
	p.mu.Lock()
	p.touched[Input{Type: typ, ID: id}] = struct{}{}
	p.mu.Unlock()
	return nil
}

func (p *pass) Delete(typ, id string) error {
	if err := p.check(true, typ, id); err != nil {
		return err
	}
	return ignoreNotFound(p.st.Delete(typ, id, p.c.name))
}

// end makes later use of p fail with ErrPassEnded.
func (p *pass) end() {
	p.mu.Lock()
	p.ended = true
	p.mu.Unlock()
}

// cleanup deletes the controller's outputs that this pass did not write.
// It runs only after a successful pass: a failed pass may have stopped
// before writing outputs that are still wanted.
func (p *pass) cleanup() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, typ := range p.c.outputs {
		for _, r := range p.st.List(typ) {
			if r.Owner != p.c.name {
				continue
			}
			if _, ok := p.touched[Input{Type: typ, ID: r.ID}]; ok {
				continue
			}
			if err := p.st.Delete(typ, r.ID, p.c.name); ignoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("cleanup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
