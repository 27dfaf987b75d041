// Package mountcmd is the mount and umount that kubelet execs for volumes
// (tmpfs for secrets and projected tokens, bind mounts for subPaths):
// cairnd answers to those names (a link in the image), so a node image
// FROM scratch needs no util-linux. It understands what kubelet's
// k8s.io/mount-utils passes — `mount [-t TYPE] [-o OPTS] SOURCE TARGET`,
// --bind/--rbind, remounts, propagation flags — and `umount [-l] [-f]
// TARGET`; nothing else (no fstab, no listing: mount-utils reads
// /proc/self/mountinfo itself).
package mountcmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUsage is returned for arguments this mount does not understand.
var ErrUsage = errors.New("usage")

// Call is one mount(2): what Parse makes of a command line.
type Call struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	// Then is a second call made after the first: util-linux mounts a
	// read-only bind in two steps (bind, then remount read-only), as the
	// kernel ignores MS_RDONLY on a new bind mount.
	Then *Call
}

// flagOptions are the -o words that are mount(2) flags; the rest is data.
var flagOptions = map[string]struct {
	set   uintptr
	clear bool
}{
	"ro": {unix.MS_RDONLY, false}, "rw": {unix.MS_RDONLY, true},
	"nosuid": {unix.MS_NOSUID, false}, "suid": {unix.MS_NOSUID, true},
	"nodev": {unix.MS_NODEV, false}, "dev": {unix.MS_NODEV, true},
	"noexec": {unix.MS_NOEXEC, false}, "exec": {unix.MS_NOEXEC, true},
	"sync": {unix.MS_SYNCHRONOUS, false}, "async": {unix.MS_SYNCHRONOUS, true},
	"remount": {unix.MS_REMOUNT, false}, "bind": {unix.MS_BIND, false},
	"rbind":   {unix.MS_BIND | unix.MS_REC, false},
	"noatime": {unix.MS_NOATIME, false}, "atime": {unix.MS_NOATIME, true},
	"nodiratime": {unix.MS_NODIRATIME, false}, "relatime": {unix.MS_RELATIME, false},
	"strictatime": {unix.MS_STRICTATIME, false}, "dirsync": {unix.MS_DIRSYNC, false},
	"shared": {unix.MS_SHARED, false}, "rshared": {unix.MS_SHARED | unix.MS_REC, false},
	"private": {unix.MS_PRIVATE, false}, "rprivate": {unix.MS_PRIVATE | unix.MS_REC, false},
	"slave": {unix.MS_SLAVE, false}, "rslave": {unix.MS_SLAVE | unix.MS_REC, false},
	"unbindable": {unix.MS_UNBINDABLE, false}, "runbindable": {unix.MS_UNBINDABLE | unix.MS_REC, false},
	"defaults": {0, false}, "auto": {0, false}, "noauto": {0, false}, "_netdev": {0, false}, "nofail": {0, false},
}

// longFlags are the long options that stand for -o words.
var longFlags = map[string]string{
	"--bind": "bind", "-B": "bind", "--rbind": "rbind", "-R": "rbind",
	"--make-shared": "shared", "--make-rshared": "rshared", "--make-private": "private", "--make-rprivate": "rprivate",
	"--make-slave": "slave", "--make-rslave": "rslave", "--make-unbindable": "unbindable", "--make-runbindable": "runbindable",
	"-r": "ro", "--read-only": "ro", "-w": "rw", "--rw": "rw",
}

// Parse reads mount's arguments (without the program name).
func Parse(args []string) (Call, error) {
	var c Call
	var opts, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-t" || a == "--types":
			if i+1 >= len(args) {
				return Call{}, fmt.Errorf("%w: %s needs a value", ErrUsage, a)
			}
			i++
			c.FSType = args[i]
		case a == "-o" || a == "--options":
			if i+1 >= len(args) {
				return Call{}, fmt.Errorf("%w: %s needs a value", ErrUsage, a)
			}
			i++
			opts = append(opts, strings.Split(args[i], ",")...)
		case longFlags[a] != "":
			opts = append(opts, longFlags[a])
		case a == "-n" || a == "--no-mtab" || a == "-c" || a == "--no-canonicalize" || a == "-v" || a == "--verbose" || a == "-i" || a == "--internal-only":
			// no mtab to write, nothing to canonicalize, no helpers
		case strings.HasPrefix(a, "-") && a != "-":
			return Call{}, fmt.Errorf("%w: unknown option %s", ErrUsage, a)
		default:
			pos = append(pos, a)
		}
	}
	var data []string
	for _, o := range opts {
		if o == "" {
			continue
		}
		f, ok := flagOptions[o]
		switch {
		case !ok:
			data = append(data, o)
		case f.clear:
			c.Flags &^= f.set
		default:
			c.Flags |= f.set
		}
	}
	c.Data = strings.Join(data, ",")
	propagation := c.Flags&(unix.MS_SHARED|unix.MS_PRIVATE|unix.MS_SLAVE|unix.MS_UNBINDABLE) != 0
	switch {
	case len(pos) == 2:
		c.Source, c.Target = pos[0], pos[1]
	case len(pos) == 1 && (propagation || c.Flags&unix.MS_REMOUNT != 0):
		c.Source, c.Target = "none", pos[0]
	default:
		return Call{}, fmt.Errorf("%w: mount [-t TYPE] [-o OPTIONS] SOURCE TARGET (got %d operands)", ErrUsage, len(pos))
	}
	if propagation {
		// A propagation change is a call of its own, flags alone.
		c.Flags &= unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE | unix.MS_REC
		c.FSType, c.Data = "", ""
		return c, nil
	}
	if c.Flags&unix.MS_BIND != 0 && c.Flags&unix.MS_REMOUNT == 0 {
		c.FSType = ""
		if rest := c.Flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			// bind first, then remount with the other flags.
			c.Then = &Call{Source: c.Source, Target: c.Target, Flags: unix.MS_REMOUNT | unix.MS_BIND | rest}
			c.Flags &= unix.MS_BIND | unix.MS_REC
		}
	}
	if c.FSType == "" && c.Flags&(unix.MS_BIND|unix.MS_REMOUNT) == 0 {
		return Call{}, fmt.Errorf("%w: -t TYPE is required (no filesystem probing)", ErrUsage)
	}
	return c, nil
}

// Mount makes the calls.
func Mount(c Call) error {
	for ; ; c = *c.Then {
		if err := unix.Mount(c.Source, c.Target, c.FSType, c.Flags, c.Data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", c.Source, c.Target, err)
		}
		if c.Then == nil {
			return nil
		}
	}
}

// ParseUmount reads umount's arguments: the target and unmount(2) flags.
func ParseUmount(args []string) (string, int, error) {
	var flags int
	var pos []string
	for _, a := range args {
		switch a {
		case "-l", "--lazy":
			flags |= unix.MNT_DETACH
		case "-f", "--force":
			flags |= unix.MNT_FORCE
		case "-n", "--no-mtab", "-c", "--no-canonicalize", "-v", "--verbose", "-i", "--internal-only":
		default:
			if strings.HasPrefix(a, "-") {
				return "", 0, fmt.Errorf("%w: unknown option %s", ErrUsage, a)
			}
			pos = append(pos, a)
		}
	}
	if len(pos) != 1 {
		return "", 0, fmt.Errorf("%w: umount [-l] [-f] TARGET", ErrUsage)
	}
	return pos[0], flags, nil
}

// Main runs mount or umount (name) with args, as the program would, and
// returns its exit code: 0, 1 on a failed call, 2 on bad usage (util-linux's
// codes are 32 and 1; mount-utils reads only the output and non-zero).
func Main(name string, args []string, stderr io.Writer) int {
	var err error
	if name == "umount" {
		var target string
		var flags int
		if target, flags, err = ParseUmount(args); err == nil {
			if err = unix.Unmount(target, flags); err != nil {
				err = fmt.Errorf("umount %s: %w", target, err)
			}
		}
	} else {
		var c Call
		if c, err = Parse(args); err == nil {
			err = Mount(c)
		}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
