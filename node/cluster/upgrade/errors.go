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

var (
	// ErrNoPlan is returned by Get before any plan was started.
	ErrNoPlan = errors.New("no upgrade plan")
	// ErrPlanExists is returned by Start while a plan is running or
	// paused; the message names it.
	ErrPlanExists = errors.New("an upgrade plan is in progress")
)

// ErrBadArtifact is returned by CheckBinary for an artifact that is not an
// executable for this machine.
var ErrBadArtifact = errors.New("bad upgrade artifact")

// ErrUnsupported is returned for an upgrade the cluster's nodes cannot
// carry out (no boot slots in their mode yet).
var ErrUnsupported = errors.New("upgrade not supported here")
