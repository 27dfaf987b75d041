package artifacts

import "errors"

var (
	// ErrNotFound: the node does not hold the artifact (nor, for Fetch,
	// does any source).
	ErrNotFound = errors.New("artifact not found")
	// ErrBadDigest: a digest that is not sha256:<64 lowercase hex digits>.
	ErrBadDigest = errors.New("bad artifact digest")
	// ErrMismatch: the bytes received are not the artifact named (size or
	// digest); nothing was kept.
	ErrMismatch = errors.New("artifact does not match its digest")
	// ErrTooLarge: the artifact is larger than the node takes.
	ErrTooLarge = errors.New("artifact too large")
)
