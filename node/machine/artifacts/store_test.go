package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestPutVerifiesAndKeepsNothingElse(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "artifacts"), MaxSize: 1 << 20}
	data := bytes.Repeat([]byte("cairn"), 1000)
	d := digestOf(data)

	_, _, err := s.Put(bytes.NewReader(data), int64(len(data)), "sha256:abc")
	require.ErrorIs(t, err, ErrBadDigest)
	_, _, err = s.Put(bytes.NewReader(data), int64(len(data)), digestOf([]byte("other")))
	require.ErrorIs(t, err, ErrMismatch)
	_, _, err = s.Put(bytes.NewReader(data[:10]), int64(len(data)), d)
	require.ErrorIs(t, err, ErrMismatch, "short")
	_, _, err = s.Put(bytes.NewReader(append(data, 'x')), int64(len(data)), d)
	require.ErrorIs(t, err, ErrMismatch, "long")
	_, _, err = s.Put(bytes.NewReader(data), 2<<20, d)
	require.ErrorIs(t, err, ErrTooLarge)
	list, err := s.List()
	require.NoError(t, err)
	assert.Empty(t, list)
	entries, _ := os.ReadDir(s.Dir)
	assert.Empty(t, entries, "no temporary file left")

	info, held, err := s.Put(bytes.NewReader(data), int64(len(data)), d)
	require.NoError(t, err)
	assert.False(t, held)
	assert.Equal(t, d, info.Digest)
	assert.Equal(t, int64(len(data)), info.Size)
	_, held, err = s.Put(bytes.NewReader(data), int64(len(data)), d)
	require.NoError(t, err)
	assert.True(t, held)
	f, got, err := s.Open(d)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, data, b)
	assert.Equal(t, info.Size, got.Size)
	list, err = s.List()
	require.NoError(t, err)
	require.Len(t, list, 1)
	_, err = s.Stat(digestOf([]byte("absent")))
	require.ErrorIs(t, err, ErrNotFound)
}

// Fetch passes over sources that fail or lie and keeps what one verified.
func TestFetchTriesEachSource(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	data := []byte("the v2 bundle")
	d := digestOf(data)
	serve := func(b []byte, err error) func(context.Context, string) (io.ReadCloser, int64, error) {
		return func(context.Context, string) (io.ReadCloser, int64, error) {
			if err != nil {
				return nil, 0, err
			}
			return io.NopCloser(bytes.NewReader(b)), int64(len(data)), nil
		}
	}
	_, err := s.Fetch(context.Background(), d, nil)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Fetch(context.Background(), d, []Source{{Name: "cp1", Open: serve(nil, ErrNotFound)}, {Name: "cp2", Open: serve([]byte("the v3 bundle"), nil)}})
	require.ErrorIs(t, err, ErrMismatch)
	assert.ErrorContains(t, err, "cp1: artifact not found")
	assert.ErrorContains(t, err, "cp2: artifact does not match")
	info, err := s.Fetch(context.Background(), d, []Source{
		{Name: "cp1", Open: serve(nil, errors.New("connection refused"))},
		{Name: "cp2", Open: serve([]byte("the v3 bundle"), nil)},
		{Name: "cp3", Open: serve(data, nil)},
	})
	require.NoError(t, err)
	assert.Equal(t, d, info.Digest)
	_, err = s.Fetch(context.Background(), d, nil)
	require.NoError(t, err, "held now: no source needed")
}
