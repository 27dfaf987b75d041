package upgrade

import "errors"

var (
	// ErrInvalid is returned by NewPlan for a request it refuses; the
	// message names every problem.
	ErrInvalid = errors.New("invalid upgrade")
	// ErrPhase is returned by Pause, Resume and Abort for a plan in a
	// phase they do not apply to.
	ErrPhase = errors.New("upgrade plan is not in that phase")
)
