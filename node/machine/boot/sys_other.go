//go:build !unix

package boot

import (
	"os"
	"os/exec"
	"time"
)

// The boot stage needs process groups, signals and flock; elsewhere only
// the client side (Call) works.

func spawn(*exec.Cmd, Starter) (*child, error) { return nil, ErrUnsupported }

func (c *child) stop(time.Duration) (exitResult, bool) { return <-c.exited, false }

func lockFile(*os.File) error { return ErrUnsupported }
