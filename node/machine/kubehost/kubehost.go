// Package kubehost makes a node container fit for kubelet and containerd,
// as the container's PID 1 does it before anything starts (Prepare; a
// machine booted from the initramfs mounts its own filesystems and needs
// only the last two steps, PrepareMachine). Docker gives a
// container a read-only /sys and cgroup tree and a read-only /proc/sys,
// which kind undoes by running its nodes --privileged; that cannot work on
// every host (docs/design/kubelet-in-docker.md), so the provisioner grants
// the capabilities one by one and this package does the rest:
//
//   - /sys and every read-only mount below it (the cgroup controllers)
//     remounted read-write: kubelet and runc create cgroups;
//   - the host-wide sysctls kubelet insists on (vm.overcommit_memory and
//     friends) shown to it with the values it wants, by bind-mounting
//     read-only files over them, so the host's own stay untouched and
//     kubelet, finding them right, writes nothing;
//   - / made rshared (kubelet's mount propagation for volumes);
//   - a machine ID of the node's own, kept in its state directory and
//     bind-mounted over the image's empty /etc/machine-id;
//   - and, by every cairnd that starts (ShowRelease), its own os-release
//     over the image's: what kubelet reports after a slot upgrade.
//
// Every step is idempotent and each failure is returned together, so one
// that does not apply on a host does not hide the others.
package kubehost

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Sysctls are the host-wide (not namespaced) sysctls kubelet's container
// manager sets at start when they differ, with the values it sets
// (k8s.io/kubernetes pkg/kubelet/cm: setupKernelTunables, and
// kernel.keys.* for its keyring); kubelet exits when it cannot write one
// that differs.
var Sysctls = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// Paths are the places Prepare works on; Default is the real machine's, a
// test points them at its own tree.
type Paths struct {
	Proc      string // /proc
	Sys       string // /sys
	MachineID string // /etc/machine-id, an empty file in the image
	OSRelease string // /etc/os-release, the image's
	// StateDir keeps the machine ID; RunDir holds the sysctl files.
	StateDir, RunDir string
}

// Default are the real paths for a node whose state is in stateDir.
func Default(stateDir string) Paths {
	return Paths{Proc: "/proc", Sys: "/sys", MachineID: "/etc/machine-id", OSRelease: "/etc/os-release", StateDir: stateDir, RunDir: "/run/cairn/kubehost"}
}

// PrepareMachine is what a machine of its own (cairnd as the kernel's
// init, booted from the initramfs) needs of these steps: its /sys and
// sysctls are its own and writable, so only / rshared and the machine ID.
func PrepareMachine(p Paths) error {
	return errors.Join(rshared(), machineID(p))
}

// Prepare does every step, returning what failed.
func Prepare(p Paths) error {
	return errors.Join(
		remountWritable(p),
		overlaySysctls(p),
		rshared(),
		machineID(p),
	)
}

// mountInfo is one line of /proc/self/mountinfo: the mount point and its
// per-mount options.
type mountInfo struct {
	point string
	opts  []string
}

func readMountInfo(proc string) ([]mountInfo, error) {
	f, err := os.Open(filepath.Join(proc, "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		out = append(out, mountInfo{point: unescape(f[4]), opts: strings.Split(f[5], ",")})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// keptFlags are the per-mount flags a remount must repeat: the kernel
// refuses to drop locked ones, and they are what Docker set.
func keptFlags(opts []string) uintptr {
	var fl uintptr
	for _, o := range opts {
		switch o {
		case "nosuid":
			fl |= unix.MS_NOSUID
		case "nodev":
			fl |= unix.MS_NODEV
		case "noexec":
			fl |= unix.MS_NOEXEC
		case "relatime":
			fl |= unix.MS_RELATIME
		case "noatime":
			fl |= unix.MS_NOATIME
		}
	}
	return fl
}

// remountWritable remounts /sys and each read-only mount under it
// read-write, parents first (mountinfo's order).
func remountWritable(p Paths) error {
	mounts, err := readMountInfo(p.Proc)
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	var errs []error
	for _, m := range mounts {
		if m.point != p.Sys && !strings.HasPrefix(m.point, p.Sys+"/") {
			continue
		}
		ro := false
		for _, o := range m.opts {
			ro = ro || o == "ro"
		}
		if !ro {
			continue
		}
		if err := unix.Mount("", m.point, "", unix.MS_REMOUNT|unix.MS_BIND|keptFlags(m.opts), ""); err != nil {
			errs = append(errs, fmt.Errorf("remount %s read-write: %w", m.point, err))
		}
	}
	return errors.Join(errs...)
}

// overlaySysctls binds a read-only file holding kubelet's value over each
// of Sysctls whose value differs.
func overlaySysctls(p Paths) error {
	if err := os.MkdirAll(p.RunDir, 0o755); err != nil {
		return err
	}
	var errs []error
	for name, want := range Sysctls {
		target := filepath.Join(p.Proc, "sys", name)
		cur, err := os.ReadFile(target)
		if err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s: %w", name, err))
			continue
		}
		if strings.TrimSpace(string(cur)) == want {
			continue
		}
		file := filepath.Join(p.RunDir, strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(file, []byte(want+"\n"), 0o444); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(file, target, "", unix.MS_BIND, ""); err != nil {
			errs = append(errs, fmt.Errorf("show sysctl %s as %s: %w", name, want, err))
			continue
		}
		if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s read-only: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// rshared makes every mount shared, recursively.
func rshared() error {
	if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / rshared: %w", err)
	}
	return nil
}

// machineID gives the node a machine ID of its own (32 hex digits, kept in
// the state directory) over the image's empty /etc/machine-id; an
// /etc/machine-id that already has one is left alone.
func machineID(p Paths) error {
	cur, err := os.ReadFile(p.MachineID)
	if err != nil {
		return fmt.Errorf("machine id: %w", err)
	}
	if len(strings.TrimSpace(string(cur))) > 0 {
		return nil
	}
	kept := filepath.Join(p.StateDir, "machine-id")
	id, err := os.ReadFile(kept)
	if errors.Is(err, os.ErrNotExist) {
		// A machine's first boot: the state disk was just formatted and
		// holds no state directory yet.
		if err := os.MkdirAll(p.StateDir, 0o700); err != nil {
			return fmt.Errorf("machine id: %w", err)
		}
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		id = []byte(hex.EncodeToString(b) + "\n")
		if err := os.WriteFile(kept, id, 0o444); err != nil {
			return fmt.Errorf("machine id: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("machine id: %w", err)
	}
	if err := unix.Mount(kept, p.MachineID, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("machine id: %w", err)
	}
	return nil
}

// ShowRelease shows data (the running cairnd's os-release) at
// p.OSRelease, bind-mounted from RunDir over the image's, replacing the
// one an earlier cairnd showed there: a container node that runs a newer
// cairnd from a boot slot keeps its image, and kubelet, which reads the
// file at start, reports that cairnd's release as its Node's OS image. A
// cairnd that runs the image's own release shows the same bytes.
func ShowRelease(p Paths, data []byte) error {
	if err := os.MkdirAll(p.RunDir, 0o755); err != nil {
		return fmt.Errorf("os-release: %w", err)
	}
	file := filepath.Join(p.RunDir, "os-release")
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o444); err != nil {
		return fmt.Errorf("os-release: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("os-release: %w", err)
	}
	// The last cairnd's mount, if any, goes first (EINVAL: none; the
	// image's file is no mount point), so restarts do not stack them.
	if err := unix.Unmount(p.OSRelease, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("os-release: unmount the last one: %w", err)
	}
	if err := unix.Mount(file, p.OSRelease, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("os-release: %w", err)
	}
	return nil
}
