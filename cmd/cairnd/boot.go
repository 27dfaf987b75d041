package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/pid1"
	"github.com/cairn-project/cairn/node/machine/power"
)

// bootUsage is the boot stage's line of cairnd's usage.
const bootUsage = `
With "boot" first, cairnd runs the node's boot stage: a parent that runs
"cairnd FLAGS" as its child from the A/B slots in STATE-DIR/slots,
restarts it with backoff when it exits, falls back to the confirmed slot
when a trial does not confirm, and takes stop, start, restart and shutdown
on STATE-DIR/boot.sock (see 'cairnctl cluster stop|start|restart' and
'cairnctl upgrade'). SIGTERM stops the child, then the boot stage. It is a
local cluster's node process and the node image's entrypoint; in a
container (the image's) it is PID 1: it reaps orphans, and exits when
cairnd is shut down, so that the container stops.
`

// bootFlags is what the boot stage needs of cairnd's parsed flags.
type bootFlags struct {
	args      []string // cairnd's flags as given, without "boot": the child's
	rest      []string // arguments after the flags
	config    string
	stateDir  string
	logLevel  string
	logFormat string
	timings   string
	mode      string // --mode as given
	// kubernetes is --kubernetes as given: as a container's PID 1 the boot
	// stage prepares the container for the kubelet the image ships.
	kubernetes string
}

// bootArgs strips a leading "boot" from cairnd's arguments.
func bootArgs(args []string) ([]string, bool) {
	if len(args) > 0 && args[0] == "boot" {
		return args[1:], true
	}
	return args, false
}

// runBoot runs the boot stage until SIGTERM, SIGINT or a shutdown request.
// Flags the child would reject at once are rejected here, before any
// restart loop.
func runBoot(f bootFlags) error {
	if len(f.rest) > 0 {
		return fmt.Errorf("boot: unexpected arguments %s", strings.Join(f.rest, " "))
	}
	mode := detectMode(f.mode)
	if f.config == "" && mode != capability.ModeContainer {
		// In a container the config may come in the environment
		// (CAIRN_CONFIG_DATA) or through maintenance mode: the child's.
		return errors.New("--config is required")
	}
	if _, err := profileFor(f.timings); err != nil {
		return err
	}
	log, err := bootLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("boot: locate cairnd: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("starting boot stage", "version", version.Version, "state_dir", f.stateDir, "mode", mode)
	args := f.args
	var starter boot.Starter
	if mode == capability.ModeContainer {
		// The child is not PID 1 and would detect process mode: name it.
		args = append(slices.Clone(args), "--mode", capability.ModeContainer)
		starter = containerInit(ctx, log, f)
	}
	return boot.Run(ctx, boot.Options{
		StateDir: f.stateDir,
		// The path is executed anew on every start, so a binary rebuilt at
		// the same path is what a restart runs.
		Command: func() *exec.Cmd {
			cmd := exec.Command(exe, args...)
			cmd.Env = append(os.Environ(), boot.EnvHome+"="+filepath.Dir(exe))
			return cmd
		},
		Logger: log,
		// A reboot or reset through the API: cairnd exits with this code
		// and is started again at once.
		RebootExitCode: power.ExitReboot,
		// The A/B slots live in the state directory; slot A without a
		// binary of its own runs this one.
		Slots:   true,
		Starter: starter,
		// A container stops when its entrypoint exits.
		ExitWhenFinished: mode == capability.ModeContainer,
	})
}

// containerInit is what the boot stage does as a container's PID 1 before
// its first child (nothing when it is not PID 1, as when a test runs the
// image's entrypoint by hand): it reaps the orphans the kernel reparents
// to it (the node's services' stray children, containerd's shims after
// cairnd restarts) through a reaper that leaves its own child to it, and
// prepares the container for kubelet once, as cairnd does when it is PID
// 1 itself (containerOptions). The returned Starter is the reaper.
func containerInit(ctx context.Context, log *slog.Logger, f bootFlags) boot.Starter {
	if os.Getpid() != 1 {
		return nil
	}
	r := pid1.NewReaper(log.With("component", "reaper"))
	go func() { _ = r.Run(ctx) }()
	prepareKubeHost(log, kubeBinDir(f.kubernetes, capability.ModeContainer), f.stateDir)
	return r
}

// bootLogger is the boot stage's own plain logger on stderr (the node's log
// file in a local cluster): the boot stage does not share the node's
// logging setup, as it shares nothing else of the node.
func bootLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
	}
	return slog.New(h).With("component", "boot"), nil
}
