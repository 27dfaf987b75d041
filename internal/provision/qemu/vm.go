package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Binary is the QEMU system emulator the VMs run in.
const Binary = "qemu-system-x86_64"

// Forward is one TCP port forward from the host into the VM through its
// user-mode NIC (QEMU's slirp: hostfwd).
type Forward struct {
	Host  string // host address:port, such as 127.0.10.1:6440
	Guest string // guest address:port
}

// VM is one node's virtual machine: what QEMU boots, its devices, and the
// files through which it is found and stopped again.
type VM struct {
	// Name identifies the VM in QEMU and in ps, such as cairn-dev-cp1.
	Name      string
	Kernel    string
	Initramfs string
	// Cmdline is the kernel command line.
	Cmdline string
	// Config, when set, is a file QEMU passes as the fw_cfg item
	// opt/cairn/config.
	Config string
	// Disk is the state disk, a raw (sparse) file; attached as /dev/vda.
	Disk string
	// MemoryMiB is the guest's memory; CPUs its virtual CPUs.
	MemoryMiB int
	CPUs      int
	// ClusterMAC is the NIC on the cluster bridge (the tap passed to
	// Start), the guest's first network device (eth0).
	ClusterMAC net.HardwareAddr
	// HostMAC is the user-mode NIC, which has no route anywhere
	// (restrict=on) and carries only Forwards.
	HostMAC  net.HardwareAddr
	Forwards []Forward
	// Console receives the serial console (the kernel's and cairnd's log),
	// appended across boots.
	Console string
	// PIDFile is where QEMU writes its PID.
	PIDFile string
}

// tapFD is the descriptor number of the tap in QEMU: the first of
// exec.Cmd's ExtraFiles.
const tapFD = 3

// Args returns QEMU's command line for v, the tap being descriptor 3.
// -nodefaults leaves out every device not named here (VGA, the default
// NIC, the monitor); PCI slots are fixed so the cluster NIC is eth0 and
// the state disk /dev/vda.
func (v VM) Args() []string {
	var fwd strings.Builder
	for _, f := range v.Forwards {
		fmt.Fprintf(&fwd, ",hostfwd=tcp:%s-%s", f.Host, f.Guest)
	}
	args := []string{
		"-name", v.Name + ",process=" + v.Name,
		"-accel", "tcg", "-machine", "q35", "-cpu", "max",
		"-m", strconv.Itoa(v.MemoryMiB), "-smp", strconv.Itoa(v.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-kernel", v.Kernel, "-initrd", v.Initramfs, "-append", v.Cmdline,
		"-chardev", "file,id=console,path=" + v.Console + ",append=on", "-serial", "chardev:console",
		"-netdev", "tap,id=cluster,fd=" + strconv.Itoa(tapFD),
		"-device", "virtio-net-pci,netdev=cluster,mac=" + v.ClusterMAC.String() + ",addr=0x3,romfile=",
		"-netdev", "user,id=host,restrict=on" + fwd.String(),
		"-device", "virtio-net-pci,netdev=host,mac=" + v.HostMAC.String() + ",addr=0x4,romfile=",
		// cache=unsafe: the guest's flushes are not forced to the host's
		// disk. Every write still reaches the host's page cache before the
		// guest sees it done, so a killed QEMU (a power cut, for the guest)
		// loses nothing the guest was told is written; only a crash of the
		// host could, and these are local clusters (DESIGN.md).
		"-drive", "if=none,id=state,format=raw,cache=unsafe,file=" + v.Disk,
		"-device", "virtio-blk-pci,drive=state,serial=cairn-state,addr=0x5",
		"-pidfile", v.PIDFile,
		"-daemonize",
	}
	if v.Config != "" {
		args = append(args, "-fw_cfg", "name=opt/cairn/config,file="+v.Config)
	}
	return args
}

// CreateDisk makes a sparse raw disk of size bytes at path, unless one is
// there: a VM started again keeps its state.
func CreateDisk(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create disk: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("size disk %s: %w", path, err)
	}
	return f.Close()
}

// Start boots v on the tap queue (from Network.Tap) and returns QEMU's
// PID once QEMU has daemonized: by then it has opened every file and
// device, so a bad argument or a busy forward address is an error here,
// with QEMU's message.
func Start(ctx context.Context, v VM, tap *os.File) (int, error) {
	_ = os.Remove(v.PIDFile)
	cmd := exec.CommandContext(ctx, Binary, v.Args()...)
	cmd.ExtraFiles = []*os.File{tap}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own session: QEMU outlives cairnctl and takes no signal meant
	// for cairnctl's terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%w %s: %w: %s", ErrStart, v.Name, err, strings.TrimSpace(out.String()))
	}
	pid, ok := Running(v.PIDFile)
	if !ok {
		return 0, fmt.Errorf("%w %s: QEMU daemonized but %s names no running QEMU", ErrStart, v.Name, v.PIDFile)
	}
	return pid, nil
}

// Running returns the PID in pidFile if that process is a QEMU whose
// command line names pidFile: a PID reused by another process is not
// taken for the VM.
func Running(pidFile string) (int, bool) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, alive(pid, pidFile)
}

// alive reports whether pid is a live process whose command line names
// pidFile. A zombie has an empty command line: it is dead, its devices
// (the tap) already closed.
func alive(pid int, pidFile string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(cmdline, []byte{0}) {
		if string(arg) == pidFile {
			return true
		}
	}
	return false
}

// Stop ends the VM named by pidFile: SIGTERM, which QEMU takes as "quit"
// (the guest gets no say: cairnd powers a machine off through its own
// API), then SIGKILL after grace. A VM that is not running is success.
// It waits for the process, not the pidfile, which QEMU removes as it
// starts to exit.
func Stop(ctx context.Context, pidFile string, grace time.Duration) error {
	pid, ok := Running(pidFile)
	if !ok {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitExit(ctx, pid, pidFile, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitExit(ctx, pid, pidFile, grace) {
		return nil
	}
	return fmt.Errorf("VM %s (pid %d) still runs after SIGKILL", pidFile, pid)
}

// waitExit polls until the process is gone or d passes.
func waitExit(ctx context.Context, pid int, pidFile string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pid, pidFile) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
