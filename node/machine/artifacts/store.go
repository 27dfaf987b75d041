// Package artifacts keeps the upgrade artifacts a node holds, addressed by
// their SHA-256, in one directory of its state (STATE/artifacts): a file
// named sha256-HEX per artifact, written to a temporary file first and
// renamed into place only once its size and digest match, so a name is
// always a verified artifact. Fetch gets one from other nodes, trying each
// source in turn and verifying what it receives the same way.
package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultMaxSize bounds an artifact: a pid1 bundle (kernel and a
// Kubernetes initramfs) is under 512 MiB.
const DefaultMaxSize int64 = 2 << 30

// Info is one artifact held.
type Info struct {
	Digest string
	Size   int64
	Stored time.Time
}

// Store is a node's artifacts.
type Store struct {
	// Dir holds them (STATE/artifacts).
	Dir string
	// MaxSize bounds one; DefaultMaxSize when zero.
	MaxSize int64
}

func (s *Store) maxSize() int64 {
	if s.MaxSize > 0 {
		return s.MaxSize
	}
	return DefaultMaxSize
}

// ParseDigest checks "sha256:" and 64 lowercase hex digits and returns the
// hex part.
func ParseDigest(d string) (string, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return "", fmt.Errorf("%w: %q is not sha256:<64 lowercase hex digits>", ErrBadDigest, d)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("%w: %q is not sha256:<64 lowercase hex digits>", ErrBadDigest, d)
	}
	return h, nil
}

// Path is where the artifact of digest is (whether or not it is held).
func (s *Store) Path(digest string) (string, error) {
	h, err := ParseDigest(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.Dir, "sha256-"+h), nil
}

// Stat returns the artifact of digest, ErrNotFound when not held.
func (s *Store) Stat(digest string) (Info, error) {
	p, err := s.Path(digest)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, digest)
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Digest: digest, Size: fi.Size(), Stored: fi.ModTime().UTC()}, nil
}

// Open opens the artifact of digest for reading.
func (s *Store) Open(digest string) (*os.File, Info, error) {
	info, err := s.Stat(digest)
	if err != nil {
		return nil, Info{}, err
	}
	p, _ := s.Path(digest)
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, err
	}
	return f, info, nil
}

// List returns every artifact held, by digest.
func (s *Store) List() ([]Info, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		h, ok := strings.CutPrefix(e.Name(), "sha256-")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if info, err := s.Stat("sha256:" + h); err == nil {
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Digest, b.Digest) })
	return out, nil
}

// CheckSize refuses a size that is not positive or above the limit.
func (s *Store) CheckSize(size int64) error {
	switch {
	case size <= 0:
		return fmt.Errorf("%w: size %d is not positive", ErrMismatch, size)
	case size > s.maxSize():
		return fmt.Errorf("%w: %d bytes, this node takes at most %d", ErrTooLarge, size, s.maxSize())
	}
	return nil
}

// Put stores what r yields as the artifact of digest, exactly size bytes;
// held reports that it was held already (r is then read and checked all
// the same, so a caller cannot tell a mismatch from a hit). Nothing is
// kept unless size and digest match.
func (s *Store) Put(r io.Reader, size int64, digest string) (info Info, held bool, err error) {
	final, err := s.Path(digest)
	if err != nil {
		return Info{}, false, err
	}
	if err := s.CheckSize(size); err != nil {
		return Info{}, false, err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return Info{}, false, err
	}
	tmp, err := os.CreateTemp(s.Dir, ".upload-*")
	if err != nil {
		return Info{}, false, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, size+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, false, fmt.Errorf("receive artifact: %w", err)
	}
	if n != size {
		return Info{}, false, fmt.Errorf("%w: %d bytes arrived, %d expected", ErrMismatch, min(n, size+1), size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return Info{}, false, fmt.Errorf("%w: the bytes' digest is %s, %s expected", ErrMismatch, got, digest)
	}
	if info, err := s.Stat(digest); err == nil {
		return info, true, nil
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Info{}, false, fmt.Errorf("store artifact: %w", err)
	}
	if d, err := os.Open(s.Dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	info, err = s.Stat(digest)
	return info, false, err
}

// Source is a node an artifact can be fetched from: it returns the
// artifact's bytes and size, or an error (ErrNotFound when it does not
// hold it).
type Source struct {
	Name string
	Open func(ctx context.Context, digest string) (io.ReadCloser, int64, error)
}

// Fetch makes sure the artifact of digest is held: it is, or it is
// fetched from the first source that has it and verified as Put verifies
// an upload. A source that fails or sends something else is passed over;
// the error, when none served it, names what each said.
func (s *Store) Fetch(ctx context.Context, digest string, sources []Source) (Info, error) {
	if info, err := s.Stat(digest); err == nil || !errors.Is(err, ErrNotFound) {
		return info, err
	}
	var errs []error
	for _, src := range sources {
		if ctx.Err() != nil {
			return Info{}, ctx.Err()
		}
		rc, size, err := src.Open(ctx, digest)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src.Name, err))
			continue
		}
		info, _, err := s.Put(rc, size, digest)
		_ = rc.Close()
		if err == nil {
			return info, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", src.Name, err))
	}
	if len(errs) == 0 {
		return Info{}, fmt.Errorf("%w: %s, and no node to fetch it from", ErrNotFound, digest)
	}
	return Info{}, fmt.Errorf("fetch %s: %w", digest, errors.Join(errs...))
}
