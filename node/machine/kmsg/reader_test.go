package kmsg_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/kmsg"
)

func TestOpenAMissingDeviceIsUnavailable(t *testing.T) {
	_, err := kmsg.Open(filepath.Join(t.TempDir(), "kmsg"))
	assert.ErrorIs(t, err, kmsg.ErrUnavailable)
}

// openReal opens the real /dev/kmsg, which needs root (or an unrestricted
// dmesg) and a kernel device: CI runs as root, so there it must work.
func openReal(t *testing.T) *kmsg.Reader {
	t.Helper()
	r, err := kmsg.Open(kmsg.Path)
	if errors.Is(err, kmsg.ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("%v (CI, which runs as root, must read it)", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestReadTheRealBufferToItsEnd(t *testing.T) {
	r := openReal(t)
	var recs []kmsg.Record
	for {
		rec, err := r.Read(false)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	require.NotEmpty(t, recs, "a booted kernel has logged something")
	for i := 1; i < len(recs); i++ {
		assert.Greater(t, recs[i].Sequence, recs[i-1].Sequence, "records come in sequence order")
		assert.LessOrEqual(t, recs[i].Priority, uint32(7))
	}
}

func TestAWaitingReadEndsOnClose(t *testing.T) {
	r := openReal(t)
	for {
		if _, err := r.Read(false); errors.Is(err, io.EOF) {
			break
		}
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := r.Read(true); err != nil {
				done <- err
				return
			}
		}
	}()
	require.NoError(t, r.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, os.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting Read did not end on Close")
	}
}
