package network

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// maxHostnameLen is the kernel's limit (__NEW_UTS_LEN).
const maxHostnameLen = 64

// SetHostname sets the hostname of the calling thread's UTS namespace. Only a
// process that owns its UTS namespace should call it: cairnd does in pid1 and
// container modes, and process mode must not (it would rename the host). The
// name is not validated beyond the kernel's length limit; the config package
// checks that it is a DNS-1123 subdomain.
func SetHostname(name string) error {
	if name == "" || len(name) > maxHostnameLen {
		return fmt.Errorf("set hostname %q: %w", name, ErrInvalidHostname)
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set hostname %q: %w", name, err)
	}
	return nil
}

// Hostname returns the hostname of the calling thread's UTS namespace, read
// with uname(2) rather than from /proc, so that it answers for the namespace
// of the thread that asks.
func Hostname() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Nodename[:]), nil
}
