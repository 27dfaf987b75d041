package formation

import "errors"

var (
	// ErrInvalidConfig is returned by Start when the agent configuration is
	// incomplete or inconsistent; the message names the field.
	ErrInvalidConfig = errors.New("invalid formation config")
)
