package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where the kernel serves its parameters.
const DefaultRoot = "/proc/sys"

// Path returns the file of the parameter name below root. The name is
// sysctl(8)'s: dots separate the segments and a '/' inside a segment
// stands for a '.' (net.ipv4.conf.eth0/100.forwarding is
// net/ipv4/conf/eth0.100/forwarding), so interface names with dots can be
// named. A name whose first separator is a '/' is already a path and is
// taken as it is, as procps does.
func Path(root, name string) (string, error) {
	rel := name
	if i := strings.IndexAny(name, "./"); i >= 0 && name[i] == '.' {
		rel = strings.Map(func(r rune) rune {
			switch r {
			case '.':
				return '/'
			case '/':
				return '.'
			}
			return r
		}, name)
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
		}
	}
	return filepath.Join(root, rel), nil
}

// Get reads the parameter name below root, as the kernel formats it with
// its trailing newline removed.
func Get(root, name string) (string, error) {
	p, err := Path(root, name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, classify(err))
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// Set writes value to the parameter name below root in one write(2), with
// a trailing newline as sysctl(8) writes it. The kernel checks the value
// in the write: a value it refuses fails with EINVAL ("invalid
// argument"). A parameter this machine may not change fails with EACCES,
// EPERM or EROFS (a container's /proc/sys is often read-only, and a
// parameter that is not namespaced belongs to the host). The file is never
// created: a missing one is ErrNoParameter.
func Set(root, name, value string) error {
	p, err := Path(root, name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, classify(err))
	}
	_, werr := f.Write([]byte(value + "\n"))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", name, classify(err))
	}
	return nil
}

// Equal reports whether two values are the same setting: the kernel reads
// back vectors separated by tabs that were written with spaces
// (net.ipv4.tcp_rmem), so values compare field by field.
func Equal(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] != fb[i] {
			return false
		}
	}
	return true
}

// Transient reports whether err may pass on retry: the kernel busy or
// short of memory. A missing parameter, a refused value or a denied write
// recur until the config changes, so retrying them only spins.
func Transient(err error) bool {
	return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EAGAIN) ||
		errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EINTR)
}

// classify replaces the errors that mean "no such parameter" and "not a
// parameter" with this package's sentinels, and strips the path error's
// file name (the caller names the parameter instead): the errno alone is
// what the kernel said.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOTDIR):
		return ErrNoParameter
	case errors.Is(err, unix.EISDIR):
		return ErrNotParameter
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
