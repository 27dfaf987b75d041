package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/bootcfg"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/kmod"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/machine/kubehost"
	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/machine/nodelog"
	"github.com/cairn-project/cairn/node/machine/pid1"
	"github.com/cairn-project/cairn/node/machine/power"
	"github.com/cairn-project/cairn/node/machine/statedisk"
	"github.com/cairn-project/cairn/node/maintenance"
)

// pid1Usage is pid1 mode's part of cairnd's usage.
const pid1Usage = `
As the kernel's init (mode pid1, detected when cairnd is PID 1 outside a
container), cairnd mounts /proc, /sys, /dev, /run, /tmp and cgroups, makes
the root read-only, loads the image's kernel modules, and reads from the
kernel command line:
  cairn.config=fwcfg|/path|/dev/vdX:path   the cluster config source
  cairn.node=NAME                          this node's name in it
  cairn.hostnet=MAC,CIDR[,GATEWAY]         a VM's host-forward NIC
With no source it boots with the config saved on its state disk, else in
maintenance mode (cairnctl apply-config --insecure). It mounts the state
disk on /var (stateDisk in the config) and never exits: a fatal error
reboots the machine after 10 s. In a container (mode container) it reads
CAIRN_CONFIG_DATA (the YAML) or CAIRN_CONFIG (a path) and CAIRN_NODE.
`

// Where pid1 mode keeps things.
const (
	varDir      = "/var"
	pid1State   = "/var/lib/cairn"
	cmdlinePath = "/proc/cmdline"
)

// nodeFlags is what pid1 and container modes take from cairnd's flags.
type nodeFlags struct {
	config, name        string
	logLevel, logFormat string
	timings             string
	etcd                string
	kubernetes          string
}

// runPID1 is cairnd as the kernel's init. It never returns: pid1.Guard
// carries out the power request node.Run returns, or reboots after a
// fatal error or panic.
func runPID1(f nodeFlags) {
	// Mounts first: /dev/console and /dev/kmsg are on the devtmpfs.
	mounts, mountErr := pid1.Mounter{Root: "/"}.Setup()
	var out io.Writer = os.Stderr
	console, consoleErr := pid1.OpenConsole("/dev", "/proc")
	if consoleErr == nil {
		out = console
		if c := console.Console(); c != nil {
			// A panic in any goroutine ends the process: its trace goes
			// to the console too, before the kernel panics and reboots
			// (panic= on the kernel command line).
			_ = debug.SetCrashOutput(c, debug.CrashOptions{})
		}
	}
	log, nl, err := consoleLogger(out, f.logLevel, f.logFormat)
	if err != nil {
		log, nl, _ = consoleLogger(out, "info", "text")
		log.Error("bad log flags; using info/text", "error", err)
	}
	log.Info("starting cairnd as PID 1", "version", version.Version)
	if mountErr != nil {
		log.Error("early mounts", "error", mountErr)
	}
	if consoleErr != nil {
		log.Warn("console", "error", consoleErr)
	}
	pid1.Guard(log, pid1.FatalDelay, func() error {
		return bootPID1(log, nl, f, mounts)
	})
}

// consoleLogger is cairnd's log on the console, kept in memory for
// `cairnctl logs cairnd` as in the other modes.
func consoleLogger(out io.Writer, level, format string) (*slog.Logger, *nodelog.Log, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	nl, err := nodelog.New(nodelog.Options{Out: out, Format: format, Level: lv})
	if err != nil {
		return nil, nil, fmt.Errorf("--log-format: %w", err)
	}
	return slog.New(nl.Handler()), nl, nil
}

// bootReport collects the boot stages for BootStatus.
type bootReport struct {
	log    *slog.Logger
	report controllers.BootReport
}

func (b *bootReport) stage(name, detail string, err error) {
	s := controllers.BootStage{Name: name, State: controllers.StageOK, Detail: detail}
	if err != nil {
		s.State, s.Error = controllers.StageFailed, err.Error()
		b.log.Warn("boot stage failed", "stage", name, "error", err)
	}
	b.report.Boot.Stages = append(b.report.Boot.Stages, s)
}

// bootPID1 runs the boot steps in order, then the node, and returns what
// node.Run returned (a *power.Request to carry out, or a fatal error).
func bootPID1(log *slog.Logger, nl *nodelog.Log, f nodeFlags, mounts []pid1.MountResult) error {
	b := &bootReport{log: log, report: controllers.BootReport{Boot: controllers.BootStatusSpec{Mode: capability.ModePID1}}}
	for _, m := range mounts {
		var err error
		if m.Error != "" {
			err = errors.New(m.Error)
		}
		b.stage("mount "+m.Target, m.FSType+" "+m.State, err)
	}
	// Every mount point on the root must exist before it is read-only.
	b.stage("mkdir /var", "", os.MkdirAll(varDir, 0o755))
	b.stage("root read-only", "bind remount of / with MS_RDONLY", pid1.ReadOnly("/"))
	b.stage("loopback", "lo up", pid1.LoopbackUp(nil))
	// Ctrl-Alt-Del becomes SIGINT to init, and a graceful reboot.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reaper := pid1.NewReaper(log.With("component", "reaper"))
	go func() { _ = reaper.Run(context.Background()) }() // for the machine's whole life

	loadModules(b, pid1.ImageModules)
	kubelet := shipsKubelet(f.kubernetes)
	if kubelet {
		loadModules(b, kube.KernelModules)
	}
	cmdline, err := readCmdline()
	b.stage("kernel command line", "", err)
	if cmdline.HostNet != nil {
		b.stage("hostnet", cmdline.HostNet.Address.String()+" on "+cmdline.HostNet.MAC.String(), bootcfg.ApplyHostNet(nil, *cmdline.HostNet))
	}
	name := f.name
	if cmdline.Node != "" {
		name = cmdline.Node
	}
	data, name, err := pid1Config(ctx, b, f, cmdline, name)
	if err != nil {
		return err
	}
	cfg, self, err := usableConfig(data, name)
	if err != nil {
		return err // maintenance mode checked it: not expected
	}
	netDetail, netErr := applyBootNetwork(ctx, self.Network)
	b.stage("network", netDetail, netErr)
	disk := prepareStateDisk(ctx, b, reaper, cfg, self, data, name)
	if kubelet {
		// After the disk: the machine ID is kept in the state directory.
		b.stage("kubelet host", "/ rshared, machine id", kubehost.PrepareMachine(kubehost.Default(pid1State)))
	}

	caps, err := capability.ForMode(capability.ModePID1)
	if err != nil {
		return err
	}
	profile, err := pid1Profile(b, f.timings, cmdline.Timings)
	if err != nil {
		return err
	}
	services := pid1TestServices(b, cmdline.TestService)
	log.Info("starting node", "name", name, "config_source", b.report.Boot.ConfigSource)
	err = node.Run(ctx, node.Options{
		Config: data, Name: name, StateDir: pid1State, Capabilities: caps, Profile: profile,
		Logger: log, Log: nl, ListenAll: true, ImageModules: pid1.ImageModules, Boot: &b.report, Reaper: reaper,
		Services: services, Etcd: f.etcd, Kubernetes: f.kubernetes,
	})
	err = pid1Outcome(ctx, err)
	if r, ok := power.As(err); ok && r.Reset && disk.State == statedisk.Refused {
		// A reset is the operator's leave to take the refused disk: wiped,
		// the next boot formats it for this cluster.
		werr := statedisk.Wipe(disk.Disk)
		log.Warn("reset: wiped the refused state disk", "disk", disk.Disk, "error", werr)
	}
	return err
}

// prepareStateDisk mounts the state disk on /var (statedisk.Prepare) and
// saves the config on it, or, with no disk or one refused, mounts a tmpfs
// there: the state then lives in memory until a reset or a fixed config
// gives the node a disk.
func prepareStateDisk(ctx context.Context, b *bootReport, reaper *pid1.Reaper, cfg *config.Config, self *config.Node, data []byte, name string) statedisk.Status {
	disk, err := statedisk.Prepare(ctx, statedisk.Options{
		Selector: self.StateDisk, ClusterID: cfg.Cluster.ID, ClusterName: cfg.Cluster.Name, Node: self.Name,
		MountPoint: varDir, Exec: reaper.Exec, Log: b.log.With("component", "statedisk"),
	})
	b.report.StateDisk = &controllers.StateDiskStatusSpec{
		State: string(disk.State), Disk: disk.Disk, Partition: disk.Partition, MountPoint: disk.MountPoint, Reason: disk.Reason,
	}
	if disk.State == statedisk.Mounted || disk.State == statedisk.Formatted {
		b.stage("save config", "/var/cairn/config.yaml", statedisk.SaveConfig(varDir, data, name))
		return disk
	}
	b.log.Warn("state in memory: lost on reboot", "state_disk", disk.State, "reason", disk.Reason, "error", err)
	_, err = pid1.Mounter{Root: "/", Log: b.log}.All([]pid1.Mount{{Source: "tmpfs", Target: varDir, FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755"}})
	b.stage("mount /var", "tmpfs: state in memory", err)
	return disk
}

// pid1Outcome maps node.Run's end to what PID 1 does: a power request as
// it is; a signal (Ctrl-Alt-Del is SIGINT) a reboot; a node removed from
// the cluster powers off, since nothing should bring it back as it is.
// Anything else is fatal (Guard reboots after a delay).
func pid1Outcome(ctx context.Context, err error) error {
	if _, ok := power.As(err); ok {
		return err
	}
	if errors.Is(err, node.ErrRemoved) {
		return &power.Request{Action: power.Poweroff, Reason: err.Error()}
	}
	if err == nil && ctx.Err() != nil {
		return &power.Request{Action: power.Reboot, Reason: "signal to init (Ctrl-Alt-Del)"}
	}
	return err
}

// loadModules loads the image's kernel modules of names, with their
// dependencies, each a boot stage, before anything needs them:
// pid1.ImageModules for the disk, the NIC and fw_cfg, and where the image
// ships kubelet kube.KernelModules (the kernel cannot load them on
// demand: there is no modprobe). KernelModules reports the first again
// later.
func loadModules(b *bootReport, names []string) {
	root, err := kmod.DefaultRoot()
	if err == nil {
		var ix *kmod.Index
		if ix, err = kmod.Open(root); err == nil {
			for _, r := range kmod.Load(kmod.Finit{}, ix.Resolve(names)) {
				b.stage("module "+r.Name, string(r.State), r.Err)
			}
			return
		}
	}
	b.stage("modules", "", err)
}

func readCmdline() (bootcfg.Cmdline, error) {
	data, err := os.ReadFile(cmdlinePath)
	if err != nil {
		return bootcfg.Cmdline{}, err
	}
	return bootcfg.ParseCmdline(string(data))
}

// pid1Config finds the cluster config: --config, else cairn.config=,
// else the config saved on a state disk, else maintenance mode, which
// waits for `cairnctl apply-config --insecure`. A source that fails, or a
// config that is invalid or has no entry for this machine, is reported and
// falls through to maintenance, so the machine stays reachable.
func pid1Config(ctx context.Context, b *bootReport, f nodeFlags, cmdline bootcfg.Cmdline, name string) ([]byte, string, error) {
	var data []byte
	var err error
	switch {
	case f.config != "":
		b.report.Boot.ConfigSource = f.config
		data, err = os.ReadFile(f.config)
	case cmdline.Config.Kind != "":
		b.report.Boot.ConfigSource = cmdline.Config.String()
		data, err = cmdline.Config.Read("/")
	default:
		var saved statedisk.Saved
		saved, err = statedisk.LoadSaved(statedisk.Sysfs{Sys: "/sys", Dev: "/dev"}, varDir)
		data, b.report.Boot.ConfigSource = saved.Config, "saved on "+saved.Status.Partition
		if name == "" {
			name = saved.Node
		}
		if errors.Is(err, statedisk.ErrNoSaved) {
			b.report.Boot.ConfigSource, err = "", nil
		}
	}
	if err == nil && data != nil {
		_, _, err = usableConfig(data, name)
	}
	b.stage("config", b.report.Boot.ConfigSource, err)
	if err == nil && data != nil {
		return data, name, nil
	}
	b.report.Boot.ConfigSource = "maintenance"
	data, name, err = runMaintenance(ctx, b.log, capability.ModePID1, name)
	return data, name, err
}

// usableConfig loads a cluster config and finds this machine's entry in
// it, as node.Run will: a config that fails either sends pid1 mode to
// maintenance instead of into a reboot loop.
func usableConfig(data []byte, name string) (*config.Config, *config.Node, error) {
	cfg, err := config.Load(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load cluster config: %w", err)
	}
	self, err := cfg.NodeFor(name, network.HardwareAddrs(), hostname())
	if err != nil {
		return nil, nil, fmt.Errorf("find this node in the cluster config: %w", err)
	}
	return cfg, self, nil
}

// runMaintenance serves the maintenance API (node/maintenance) until a
// valid config for this machine is applied.
func runMaintenance(ctx context.Context, log *slog.Logger, mode, name string) ([]byte, string, error) {
	data, got, err := maintenance.Serve(ctx, maintenance.Options{NodeName: name, Mode: mode, Logger: log})
	if err != nil {
		return nil, "", fmt.Errorf("maintenance mode: %w", err)
	}
	return data, got, nil
}

func hostname() string {
	h, _ := os.Hostname()
	return strings.TrimSpace(h)
}

// pid1Profile is the timing profile of a PID 1: the kernel's
// cairn.timings= when given, else --timings. A name cairnd does not know is
// a failed boot stage, and the node runs with --timings' profile instead.
func pid1Profile(b *bootReport, flagName, kernelName string) (formation.Profile, error) {
	if kernelName == "" {
		return profileFor(flagName)
	}
	p, err := formation.ProfileNamed(kernelName)
	if err != nil {
		b.stage("timings", "", fmt.Errorf("%s=: %w; running with %q", bootcfg.ArgTimings, err, flagName))
		return profileFor(flagName)
	}
	b.stage("timings", kernelName+" (kernel command line)", nil)
	return p, nil
}
