package pid1

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/cairn-project/cairn/node/machine/power"
)

// FatalDelay is how long a fatal error stays on the console before the
// machine reboots: long enough to read, short enough that a crash loop
// does not look like a hang.
const FatalDelay = 10 * time.Second

// Guard runs cairnd's main as PID 1 and never returns: PID 1 exiting
// panics the kernel. A *power.Request returned by main (errors.As) is
// carried out with PowerOff; any other error, nil (the node stopping
// on its own), or a panic in main's goroutine is logged as fatal, and
// the machine reboots after delay. A panic in another goroutine cannot
// be recovered in Go: the runtime prints it (SetCrashOutput: to the
// console as well) and exits, the kernel panics, and its panic= argument
// reboots it (the image sets it).
func Guard(log *slog.Logger, delay time.Duration, main func() error) {
	err := recovered(main)
	if r, ok := power.As(err); ok {
		log.Info("power request", "action", r.Action, "reset", r.Reset, "reason", r.Reason)
		Halt(log, PowerOff(log, r.Action))
	}
	if err == nil {
		err = fmt.Errorf("cairnd stopped without a power request")
	}
	log.Error("fatal error, rebooting", "error", err, "delay", delay)
	time.Sleep(delay) // the console shows the error meanwhile; nothing else runs
	Halt(log, PowerOff(log, power.Reboot))
}

// recovered runs main and turns a panic into an error with its stack.
func recovered(main func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return main()
}

// Halt is where PID 1 ends when reboot(2) failed: it logs why and blocks
// forever, since exiting would panic the kernel. It never returns.
func Halt(log *slog.Logger, err error) {
	if err != nil {
		log.Error("cannot reboot; halted", "error", err)
	}
	for {
		// A sleeping goroutine, not select{}: with every goroutine
		// blocked for good, the Go runtime would declare a deadlock and
		// exit.
		time.Sleep(time.Hour)
	}
}
