package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/machine/power"
)

// MountInfo is one line of /proc/self/mountinfo.
type MountInfo struct {
	ID, Parent int
	Target     string
	FSType     string
	Source     string
}

// ParseMountInfo reads a mountinfo file (proc(5)): "36 35 98:0 /mnt1
// /mnt2 rw,noatime master:1 - ext3 /dev/root rw", in mount order. Octal
// escapes in paths (\040 for a space) are decoded.
func ParseMountInfo(r io.Reader) ([]MountInfo, error) {
	var out []MountInfo
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		out = append(out, MountInfo{ID: id, Parent: parent, Target: unescape(f[4]), FSType: f[sep+1], Source: unescape(f[sep+2])})
	}
	return out, sc.Err()
}

// unescape decodes mountinfo's \NNN octal escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pseudo are filesystems that hold no data to flush: unmounting them at
// power-off gains nothing, and /dev and /proc are still in use then (the
// console is open).
var pseudo = map[string]bool{
	"rootfs": true, "proc": true, "sysfs": true, "devtmpfs": true, "devpts": true,
	"cgroup": true, "cgroup2": true, "securityfs": true, "bpf": true, "debugfs": true,
	"tracefs": true, "mqueue": true, "pstore": true, "configfs": true, "fusectl": true,
	"hugetlbfs": true, "efivarfs": true, "binfmt_misc": true, "nsfs": true,
}

// UnmountOrder lists the mounts to unmount before the machine goes down,
// children before parents (the reverse of mount order), limited to under
// (and below): every mount except / and pseudo filesystems, so the state
// disk on /var and anything mounted below it are clean.
func UnmountOrder(ms []MountInfo, under string) []MountInfo {
	var out []MountInfo
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.Target == "/" || pseudo[m.FSType] || !within(m.Target, under) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func within(path, dir string) bool {
	if dir == "/" || path == dir {
		return true
	}
	return strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// StateMounts is where cairnd mounts the disks it writes: the state disk
// and what later lives on it.
const StateMounts = "/var"

// UnmountAll syncs and unmounts UnmountOrder(under). A busy disk-backed
// mount (its source a /dev node) under state (StateMounts) is remounted read-only
// instead, which flushes it as well; any other busy mount is left as it
// is (a tmpfs has nothing to lose, and a disk cairnd did not mount is not
// its to touch). Remounting read-only changes the filesystem itself, in
// every mount namespace, so it is kept to the filesystems cairnd owns: a
// test that runs cairnd as PID 1 of a mount namespace that shares the
// host's filesystems must not make them read-only. The failures are
// joined, and none stops the rest.
func UnmountAll(log *slog.Logger, mountinfo, under, state string) error {
	unix.Sync()
	f, err := os.Open(mountinfo)
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	ms, err := ParseMountInfo(f)
	_ = f.Close()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range UnmountOrder(ms, under) {
		err := unix.Unmount(m.Target, 0)
		switch {
		case err == nil:
			log.Info("unmounted", "target", m.Target)
			continue
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT):
			continue // gone already, with its parent
		case !strings.HasPrefix(m.Source, "/dev/") || !within(m.Target, state):
			log.Info("busy, left mounted", "target", m.Target, "fstype", m.FSType, "error", err)
			continue
		}
		if rerr := unix.Mount("", m.Target, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); rerr != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w; remount read-only: %w", m.Target, err, rerr))
			continue
		}
		log.Warn("busy, remounted read-only", "target", m.Target, "error", err)
	}
	unix.Sync()
	return errors.Join(errs...)
}

// PowerOff is the machine's last step: it syncs, unmounts what holds data
// (the state disk on /var first among them, as the most recent mount),
// and calls reboot(2) with RESTART or POWER_OFF. It returns only if
// reboot(2) fails (not PID 1, or no CAP_SYS_BOOT); the caller must then
// not exit either (Halt).
func PowerOff(log *slog.Logger, a power.Action) error {
	log.Info("machine going down", "action", a)
	if err := UnmountAll(log, "/proc/self/mountinfo", "/", StateMounts); err != nil {
		log.Error("unmount before power-off", "error", err)
	}
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	if a == power.Poweroff {
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	if err := unix.Reboot(cmd); err != nil {
		return fmt.Errorf("reboot(2): %w", err)
	}
	return nil
}
