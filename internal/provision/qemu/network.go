package qemu

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network is a cluster's private Ethernet segment: a bridge with no
// address in a network namespace of its own, with one tap per VM. The
// namespace keeps the segment off the host: the host's firewall (Docker
// sets FORWARD to DROP and loads br_netfilter, which would filter
// bridged frames) and routing never see it, and removing the namespace
// removes the bridge (DESIGN.md).
type Network struct {
	// Namespace is the network namespace's name (/run/netns/NAME).
	Namespace string
	// Bridge is the bridge's name inside the namespace.
	Bridge string
}

// Create makes the namespace and the bridge, up; both may exist already.
func (n Network) Create() error {
	if !n.exists() {
		// A file that is no namespace (left by a crash between creating
		// and mounting, or hidden by a later mount) is replaced.
		if err := os.Remove(n.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", n.path(), err)
		}
		if err := newNamespace(n.Namespace); err != nil {
			return err
		}
	}
	return n.in(func() error {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add bridge %s: %w", n.Bridge, err)
		}
		l, err := netlink.LinkByName(n.Bridge)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", n.Bridge, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set bridge %s up: %w", n.Bridge, err)
		}
		return nil
	})
}

func (n Network) path() string { return netnsDir + "/" + n.Namespace }

// exists reports whether the namespace is mounted at its path.
func (n Network) exists() bool {
	var st unix.Statfs_t
	return unix.Statfs(n.path(), &st) == nil && st.Type == unix.NSFS_MAGIC
}

// Tap creates the tap name on the bridge, up, and returns its queue for
// QEMU (-netdev tap,fd=N). The tap is not persistent: it goes away when
// the last holder of the queue, the VM, exits, so a VM leaves no tap
// behind however it ends. A stale tap of the same name (its VM still
// running) is an error.
func (n Network) Tap(name string) (*os.File, error) {
	var f *os.File
	err := n.in(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("tap %s: %w", name, err)
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create tap %s: %w", name, err)
		}
		f = os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
		tap, err := netlink.LinkByName(name)
		if err == nil {
			var br netlink.Link
			if br, err = netlink.LinkByName(n.Bridge); err == nil {
				err = netlink.LinkSetMaster(tap, br)
			}
		}
		if err == nil {
			err = netlink.LinkSetUp(tap)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("tap %s on %s: %w", name, n.Bridge, err)
		}
		return nil
	})
	return f, err
}

// Links returns the names of the links in the namespace (the bridge and
// the taps of running VMs), or nil when it does not exist.
func (n Network) Links() ([]string, error) {
	if !n.exists() {
		return nil, nil
	}
	var names []string
	err := n.in(func() error {
		ls, err := netlink.LinkList()
		for _, l := range ls {
			if l.Attrs().Name != "lo" {
				names = append(names, l.Attrs().Name)
			}
		}
		return err
	})
	return names, err
}

// Delete removes the namespace, and with it the bridge; a namespace that
// is gone is success. Taps held by running VMs go when the VMs exit.
func (n Network) Delete() error {
	if !n.exists() {
		if err := os.Remove(n.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", n.path(), err)
		}
		return nil
	}
	_ = n.in(func() error {
		if l, err := netlink.LinkByName(n.Bridge); err == nil {
			return netlink.LinkDel(l)
		}
		return nil
	})
	if err := netns.DeleteNamed(n.Namespace); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete network namespace %s: %w", n.Namespace, err)
	}
	return nil
}

// in runs fn on an OS thread switched into the namespace. The thread is
// switched back afterwards, or, if that fails, dies with its goroutine
// (a locked thread is not reused), so no other goroutine ever runs in
// the namespace by accident.
func (n Network) in(fn func() error) error {
	return onThread(func() error {
		ns, err := netns.GetFromName(n.Namespace)
		if err != nil {
			return fmt.Errorf("network namespace %s: %w", n.Namespace, err)
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", n.Namespace, err)
		}
		return fn()
	})
}

// netnsDir is where named network namespaces are bind-mounted.
const netnsDir = "/run/netns"

// shareNetnsDir makes netnsDir a shared mount point of its own, as
// iproute2 does before its first `ip netns add`: a namespace mounted on
// the plain directory would be hidden by the mount `ip netns add` puts
// over the directory later (and could then not be removed), and a shared
// mount shows namespaces to mount namespaces made after them.
func shareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if !errors.Is(err, unix.EINVAL) {
		return err // nil: a mount point already
	}
	if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", netnsDir, err)
	}
	return unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
}

// newNamespace creates the named namespace (NewNamed also switches the
// calling thread into it, hence the thread of its own).
func newNamespace(name string) error {
	if err := shareNetnsDir(); err != nil {
		return fmt.Errorf("prepare %s: %w", netnsDir, err)
	}
	return onThread(func() error {
		ns, err := netns.NewNamed(name)
		if err != nil {
			return fmt.Errorf("create network namespace %s: %w", name, err)
		}
		return ns.Close()
	})
}

// onThread runs fn on a locked OS thread and restores the thread's
// network namespace after it.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
