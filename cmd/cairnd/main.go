// Command cairnd is the Cairn node: it joins the cluster described by the
// cluster config file and serves the node API. See `cairnd --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/mountcmd"
	"github.com/cairn-project/cairn/node/machine/nodelog"
	"github.com/cairn-project/cairn/node/machine/power"
)

func main() {
	// kubelet execs mount and umount for volumes: links to cairnd in the
	// image (rootfs/image), answered here.
	if n := filepath.Base(os.Args[0]); n == "mount" || n == "umount" {
		os.Exit(mountcmd.Main(n, os.Args[1:], os.Stderr))
	}
	err := run()
	if r, ok := power.As(err); ok {
		// Process and container mode: the parent carries the request out.
		// The boot stage restarts ExitReboot at once and leaves 0 stopped;
		// a container runtime with restart policy on-failure restarts the
		// non-zero code only. (As PID 1 the request is reboot(2)'s, not an
		// exit's: PID 1 must never exit.)
		fmt.Fprintln(os.Stderr, "cairnd:", err)
		os.Exit(power.ExitCode(r.Action))
	}
	if errors.Is(err, node.ErrRemoved) {
		// Removed from the cluster on purpose: say so, and exit 0 so that
		// nothing restarts it (node.ErrRemoved says how to rejoin).
		fmt.Fprintln(os.Stderr, "cairnd:", err)
		os.Exit(0)
	}
	if errors.Is(err, node.ErrStorageFault) {
		// Fail-stop: node.Run logged the cause as the node's last line.
		// Exit non-zero, so the boot stage restarts it and it recovers
		// from disk.
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairnd:", err)
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			for _, v := range ve.Violations {
				fmt.Fprintf(os.Stderr, "  %s\n", v)
			}
		}
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == testOrphansCommand {
		return runTestOrphans(os.Args[2:])
	}
	args, bootStage := bootArgs(os.Args[1:])
	fs := flag.NewFlagSet("cairnd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: cairnd [boot] --config FILE --name NODE [flags]\n\n"+
			"Runs one Cairn node: gossip, Raft (control planes), the node API.\n"+bootUsage+pid1Usage+testServiceUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", os.Getenv("CAIRN_CONFIG"), "cluster config file (env CAIRN_CONFIG)")
	name := fs.String("name", os.Getenv("CAIRN_NODE"), "this node's name in the cluster config (env CAIRN_NODE; default: hostname)")
	stateDir := fs.String("state-dir", "/var/lib/cairn", "directory for this node's persistent state")
	mode := fs.String("mode", "auto", "pid1, container, process, or auto to detect")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	timings := fs.String("timings", "default", "default; slow: Raft timeouts tripled, gossip probes doubled, for emulated VMs (QEMU without KVM) and overloaded hosts; or fast: every gossip, Raft and autopilot timeout shrunk for loopback tests. In pid1 mode the kernel's cairn.timings= overrides it")
	showVersion := fs.Bool("version", false, "print the version and exit")
	etcdBin := fs.String("etcd", "", "the etcd binary control planes run (default: "+imageEtcd+" in pid1 and container modes, the etcd next to cairnd in process mode; none: run no etcd)")
	kubeDir := fs.String("kubernetes", "", "the directory of the Kubernetes binaries (kube-apiserver, ...) nodes run (default: "+imageKubeDir+" in pid1 and container modes, cairnd's own directory in process mode; none: run no Kubernetes)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Println("cairnd", version.Version)
		return nil
	}
	if bootStage {
		return runBoot(bootFlags{args: args, rest: fs.Args(), config: *cfgPath, stateDir: *stateDir, logLevel: *logLevel, logFormat: *logFormat, timings: *timings,
			mode: *mode, kubernetes: *kubeDir})
	}
	m := detectMode(*mode)
	if m == capability.ModePID1 {
		runPID1(nodeFlags{config: *cfgPath, name: *name, logLevel: *logLevel, logFormat: *logFormat, timings: *timings, etcd: etcdBinary(*etcdBin, m), kubernetes: kubeBinDir(*kubeDir, m)}) // never returns
	}
	log, nodeLog, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	var data []byte
	data, *name, err = clusterConfig(*cfgPath, *name, *stateDir, detectMode(*mode), log)
	if err != nil {
		return err
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	profile, err := profileFor(*timings)
	if err != nil {
		return err
	}
	fault, err := faultFromEnv()
	if err != nil {
		return err
	}
	caps, err := capability.ForMode(m)
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("starting cairnd", "version", version.Version, "mode", m, "name", *name)
	opts := node.Options{
		Config: data, Name: *name, StateDir: *stateDir, Capabilities: caps,
		Profile: profile, Logger: log, Log: nodeLog, Fault: fault, Etcd: etcdBinary(*etcdBin, m), Kubernetes: kubeBinDir(*kubeDir, m),
		EtcdFault: os.Getenv(node.EtcdFaultEnv), BootSlot: os.Getenv(boot.EnvSlot),
		BootTrial: os.Getenv(boot.EnvTrial) == "1",
	}
	if m == capability.ModeContainer {
		containerOptions(ctx, &opts, *stateDir)
	}
	return node.Run(ctx, opts)
}

// imageEtcd is where the image puts etcd (rootfs/image.EtcdPath; a test
// keeps the two equal without linking the image builder into cairnd).
const imageEtcd = "/usr/bin/etcd"

// etcdBinary resolves --etcd: the flag, "none" for no etcd, else the
// image's etcd as PID 1 or in a container, and the one beside cairnd in
// process mode (where `make build` and `make etcd` put both). A path that
// does not exist is reported by the node (EtcdStatus), not refused here.
func etcdBinary(flagValue, mode string) string {
	return shippedPath(flagValue, mode, imageEtcd, func(dir string) string { return filepath.Join(dir, "etcd") })
}

// imageKubeDir is where the image puts the Kubernetes binaries.
const imageKubeDir = "/usr/bin"

// kubeBinDir resolves --kubernetes as etcdBinary resolves --etcd: the
// flag, "none" for no Kubernetes, else the image's directory as PID 1 or
// in a container and cairnd's own in process mode (where `make kube`
// puts the kube binary and its links).
func kubeBinDir(flagValue, mode string) string {
	return shippedPath(flagValue, mode, imageKubeDir, func(dir string) string { return dir })
}

// shippedPath resolves a flag naming something the image ships: the
// flag's value, "" for "none", else the image's path in pid1 and
// container modes and, in process mode, beside(the directory of cairnd,
// or of its boot stage when it runs from a boot slot).
func shippedPath(flagValue, mode, image string, beside func(dir string) string) string {
	switch {
	case flagValue == "none":
		return ""
	case flagValue != "":
		return flagValue
	case mode != capability.ModeProcess:
		return image
	}
	if home := os.Getenv(boot.EnvHome); home != "" {
		return beside(home) // started from a slot: the boot stage's directory
	}
	self, err := os.Executable()
	if err != nil {
		return image
	}
	return beside(filepath.Dir(self))
}

// faultFromEnv reads the hidden, test-only fault point trigger
// (consensus.FaultEnv, such as CAIRN_FAULT=logwrite-after:20): the named
// consensus fault point is armed once the node's store opens, and fires
// once per data directory, so the node its boot stage restarts with the
// same environment runs clean. See consensus/DESIGN.md, "Fault points".
func faultFromEnv() (*consensus.Fault, error) {
	v := os.Getenv(consensus.FaultEnv)
	if v == "" {
		return nil, nil
	}
	f, err := consensus.ParseFault(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", consensus.FaultEnv, err)
	}
	return &f, nil
}

// profileFor maps --timings to a formation profile.
func profileFor(name string) (formation.Profile, error) {
	p, err := formation.ProfileNamed(name)
	if err != nil {
		return p, fmt.Errorf("--%w", err)
	}
	return p, nil
}

// newLogger builds cairnd's log: stderr in the chosen format, and the same
// lines kept in memory for `cairnctl logs cairnd`, at a level the API can
// change (node/machine/nodelog).
func newLogger(level, format string) (*slog.Logger, *nodelog.Log, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	nl, err := nodelog.New(nodelog.Options{Out: os.Stderr, Format: format, Level: lv})
	if err != nil {
		return nil, nil, fmt.Errorf("--log-format: %w", err)
	}
	return slog.New(nl.Handler()), nl, nil
}

// detectMode: PID 1 in a container runtime is "container", PID 1 otherwise
// is "pid1", anything else is "process".
func detectMode(flagValue string) string {
	if flagValue != "auto" {
		return flagValue
	}
	if os.Getpid() != 1 {
		return capability.ModeProcess
	}
	for _, marker := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(marker); err == nil {
			return capability.ModeContainer
		}
	}
	if os.Getenv("container") != "" {
		return capability.ModeContainer
	}
	return capability.ModePID1
}
