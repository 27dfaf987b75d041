package kmsg

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Path is the kernel's message device.
const Path = "/dev/kmsg"

// recordMax is the read buffer: a record (header, up to 1 KiB of text
// escaped to at most 4 KiB, dictionary) fits in the kernel's own 8 KiB
// bound (CONSOLE_EXT_LOG_MAX); a smaller buffer makes read(2) fail with
// EINVAL.
const recordMax = 8 << 10

// Reader reads records from the device, oldest first: a new reader starts
// at the first record the kernel still holds.
type Reader struct {
	f   *os.File
	raw syscall.RawConn
	buf []byte
	// closed makes a Read that Close woke return os.ErrClosed.
	closed atomic.Bool
}

// Open opens path (Path, or another device for tests) for reading. It is
// opened non-blocking and registered with Go's poller, so Read can either
// stop at the buffer's end or wait there, and Close wakes a waiting Read.
func Open(path string) (*Reader, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		err = &fs.PathError{Op: "open", Path: path, Err: err}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Reader{f: f, raw: raw, buf: make([]byte, recordMax)}, nil
}

// Read returns the next record. At the end of the buffer it returns io.EOF
// unless wait is set, in which case it waits for the kernel's next record
// (until Close). Records the kernel overwrote while the reader lagged
// (EPIPE) are skipped: the sequence numbers show the gap.
func (r *Reader) Read(wait bool) (Record, error) {
	for {
		var n int
		var rerr error
		err := r.raw.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), r.buf)
			// false asks the poller to wait until the device is readable.
			return !(wait && errors.Is(rerr, unix.EAGAIN))
		})
		switch {
		case err != nil && r.closed.Load():
			return Record{}, fmt.Errorf("read %s: %w", r.f.Name(), os.ErrClosed)
		case err != nil:
			return Record{}, fmt.Errorf("read %s: %w", r.f.Name(), err)
		case errors.Is(rerr, unix.EAGAIN):
			return Record{}, io.EOF
		case errors.Is(rerr, unix.EPIPE):
			continue
		case rerr != nil:
			return Record{}, fmt.Errorf("read %s: %w", r.f.Name(), rerr)
		case n == 0:
			return Record{}, io.EOF
		}
		return Parse(r.buf[:n])
	}
}

// Close closes the device; a Read waiting on it returns an error.
func (r *Reader) Close() error {
	r.closed.Store(true)
	return r.f.Close()
}
