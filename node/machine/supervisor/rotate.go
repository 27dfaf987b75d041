package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// rotatingFile is an append-only log file that is rotated by size, like
// logrotate's "size" mode: when a write would grow path past maxSize, path
// becomes path.1, path.1 becomes path.2, and so on; path.<keep> is dropped.
// Writes are never split, so a line lives in exactly one file.
//
// It is not safe for concurrent use; logSink serializes writes.
type rotatingFile struct {
	path    string
	maxSize int64
	keep    int

	f    *os.File
	size int64
}

func newRotatingFile(path string, maxSize int64, keep int) *rotatingFile {
	return &rotatingFile{path: path, maxSize: maxSize, keep: keep}
}

// Write appends p, rotating first if p would not fit. A failed write closes
// the file so the next write reopens it.
func (w *rotatingFile) Write(p []byte) (int, error) {
	if w.f != nil && w.size > 0 && w.size+int64(len(p)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if err != nil {
		_ = w.Close()
		return n, fmt.Errorf("write %s: %w", w.path, err)
	}
	return n, nil
}

// open opens path for appending (making its directory: on a machine's
// fresh state disk nothing has) and learns its size, so a restarted
// supervisor continues the same file.
func (w *rotatingFile) open() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o750); err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat log file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// rotate shifts path.N-1 to path.N down to path to path.1, then starts an
// empty path. Missing files in the chain are skipped.
func (w *rotatingFile) rotate() error {
	if err := w.Close(); err != nil {
		return err
	}
	if w.keep == 0 {
		return removeIfExists(w.path)
	}
	for i := w.keep; i >= 1; i-- {
		from := w.path
		if i > 1 {
			from = w.path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, w.path+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log file: %w", err)
		}
	}
	return nil
}

// Close closes the current file, if open.
func (w *rotatingFile) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f, w.size = nil, 0
	if err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove log file: %w", err)
	}
	return nil
}
