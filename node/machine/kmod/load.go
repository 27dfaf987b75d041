package kmod

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Loader loads one module file into the kernel. Finit is the real one;
// tests pass a recording fake so this host's kernel is never changed.
type Loader interface {
	Load(path string) error
}

// Finit loads modules with finit_module(2) on the opened file.
type Finit struct{}

// Load implements Loader. A module already loaded (EEXIST) is success, so
// loading the same list again is a no-op. A compressed module is refused
// with ErrCompressed before the file is opened: the kernel decompresses
// only with MODULE_INIT_COMPRESSED_FILE and a matching config, which we
// cannot count on.
func (Finit) Load(path string) error {
	if err := checkCompressed(path); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open module: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

func checkCompressed(path string) error {
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(path, ext) {
			return fmt.Errorf("%w: %s", ErrCompressed, path)
		}
	}
	return nil
}

// State is the outcome of one requested module.
type State string

// The states of a requested module.
const (
	Loaded  State = "loaded"
	Builtin State = "builtin"
	Failed  State = "failed"
)

// Result is one requested module's outcome.
type Result struct {
	Name  string
	State State
	Err   error
}

// Load loads a plan's modules in order with l and reports each request. A
// module whose dependency failed is not attempted (ErrDependencyFailed);
// one module failing fails only the requests that need it. A compressed
// module is refused here too, so a fake Loader sees only what the real
// one would load.
func Load(l Loader, p Plan) []Result {
	errs := map[string]error{}
	for _, m := range p.Order {
		if err := firstFailed(errs, m.Deps); err != nil {
			errs[m.Name] = err
			continue
		}
		err := checkCompressed(m.Path)
		if err == nil {
			err = l.Load(m.Path)
		}
		if err != nil {
			errs[m.Name] = fmt.Errorf("load %s: %w", m.Name, err)
		}
	}
	out := make([]Result, 0, len(p.Requests))
	for _, r := range p.Requests {
		res := Result{Name: r.Name, State: Loaded}
		switch {
		case r.Builtin:
			res.State = Builtin
		case r.Err != nil:
			res.State, res.Err = Failed, r.Err
		default:
			// The module itself is last in its closure, and a failed
			// dependency failed it too (ErrDependencyFailed).
			if err := errs[r.Needs[len(r.Needs)-1]]; err != nil {
				res.State, res.Err = Failed, err
			}
		}
		out = append(out, res)
	}
	return out
}

// firstFailed returns an ErrDependencyFailed error for the first of names
// that failed, or nil.
func firstFailed(errs map[string]error, names []string) error {
	for _, n := range names {
		if err := errs[n]; err != nil {
			return fmt.Errorf("%w: %w", ErrDependencyFailed, err)
		}
	}
	return nil
}

// Transient reports whether a load error may pass if retried (the kernel
// was busy or short of memory), as opposed to one that will recur until
// the image or the request changes (unknown module, cycle, compressed,
// missing file, a module the kernel rejects).
func Transient(err error) bool {
	for _, e := range []error{unix.EAGAIN, unix.EBUSY, unix.ENOMEM, unix.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
