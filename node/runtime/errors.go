package runtime

import "errors"

var (
	// ErrNotFound is returned by State.Get, State.Delete and Reader.Get when
	// no resource of that type and ID exists.
	ErrNotFound = errors.New("resource not found")
	// ErrInvalidResource is returned by State.Put when a resource has no type
	// or ID, or its spec cannot be marshaled to JSON (the API renders specs
	// through JSON, so an unmarshalable spec would only fail later, remotely).
	ErrInvalidResource = errors.New("invalid resource")
	// ErrOwnerConflict is returned when a write or delete names an owner other
	// than the one that created the resource: a controller's outputs can be
	// changed only by that controller, and external resources only externally.
	ErrOwnerConflict = errors.New("resource owned by another writer")
	// ErrUndeclaredInput is returned by a controller's Reader when it reads a
	// type (or, for an input pinned to one ID, another ID of that type) that the
	// controller did not declare in Inputs or Outputs.
	ErrUndeclaredInput = errors.New("read of undeclared input")
	// ErrUndeclaredOutput is returned by a controller's Writer when it writes or
	// deletes a type that the controller did not declare in Outputs.
	ErrUndeclaredOutput = errors.New("write of undeclared output")
	// ErrPassEnded is returned by a Reader or Writer used after the reconcile
	// pass it was handed to returned (for example from a leaked goroutine):
	// such a write would escape the pass's cleanup bookkeeping.
	ErrPassEnded = errors.New("reconcile pass already ended")
	// ErrInvalidController is returned by Runtime.Register for a controller
	// with no name, no outputs, or an empty input or output type.
	ErrInvalidController = errors.New("invalid controller")
	// ErrDuplicateController is returned by Runtime.Register when a controller
	// of the same name is already registered.
	ErrDuplicateController = errors.New("controller already registered")
	// ErrOutputConflict is returned by Runtime.Register when another
	// controller already declares one of the new controller's output types:
	// each output type has exactly one owning controller.
	ErrOutputConflict = errors.New("output type owned by another controller")
	// ErrRunning is returned by Runtime.Register and Runtime.Run once Run has
	// been called: the controller set is fixed for the life of a Runtime.
	ErrRunning = errors.New("runtime already running")
	// ErrControllerPanic wraps the value of a panic recovered from a
	// controller's pass; the runtime treats it like any other pass error.
	ErrControllerPanic = errors.New("controller panicked")
)
