package etcd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cairn-project/cairn/internal/atomicfile"
)

// SnapshotFile is where a recovery's snapshot waits, in the member's
// directory, for the restore (the API writes it there).
func (l Layout) SnapshotFile() string { return filepath.Join(l.Dir, "restore.snapshot") }

// ErrSnapshot is returned by Restore when the snapshot is missing or is
// not the one the recovery decided on.
var ErrSnapshot = errors.New("etcd recovery snapshot")

// FileSHA256 is the hex SHA-256 of a file and its size.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Restore makes m's data directory from the recovery snapshot, with etcd's
// own restore (the binary's restore-snapshot command, etcdutl's library),
// as the one member of a new cluster with m's token: into a directory
// beside it, which gets the marker mk (with m's start flags) and is then
// renamed into place, so a crash midway leaves no half-restored data
// where etcd would start from it. The snapshot must hash to wantSHA256.
// reaper, when set, is PID 1's orphan reaper, through which the restore's
// process runs so that the reaper does not take its exit status.
func Restore(ctx context.Context, binary string, m Member, mk Marker, wantSHA256 string, reaper Reaper) error {
	l := m.Layout
	got, _, err := FileSHA256(l.SnapshotFile())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if got != wantSHA256 {
		return fmt.Errorf("%w: %s has SHA-256 %s, the recovery was decided for %s", ErrSnapshot, l.SnapshotFile(), got, wantSHA256)
	}
	tmp := l.DataDir() + ".restoring"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("clear %s: %w", tmp, err)
	}
	cluster := m.Name + "=" + m.PeerURL()
	cmd := exec.CommandContext(ctx, binary, "restore-snapshot", "--snapshot", l.SnapshotFile(), "--data-dir", tmp,
		"--name", m.Name, "--initial-advertise-peer-urls", m.PeerURL(), "--initial-cluster", cluster,
		"--initial-cluster-token", m.Token)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := run(cmd, reaper); err != nil {
		return fmt.Errorf("restore etcd snapshot: %w: %s", err, lastLine(out.String()))
	}
	mk.State, mk.InitialCluster = StateNew, []Peer{{Name: m.Name, PeerURL: m.PeerURL()}}
	raw, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(tmp, MarkerFile), raw, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return err
	}
	// An empty data directory (at most an earlier start's marker: Inspect
	// found no etcd data) makes way; os.Remove removes only an empty one.
	_ = os.Remove(filepath.Join(l.DataDir(), MarkerFile))
	if err := os.Remove(l.DataDir()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("make way for restored etcd data: %w", err)
	}
	if err := os.Rename(tmp, l.DataDir()); err != nil {
		return fmt.Errorf("move restored etcd data into place: %w", err)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Reaper is PID 1's orphan reaper as Restore uses it
// (supervisor.Reaper): Start keeps the reaper off the process until
// Release.
type Reaper interface {
	Start(cmd *exec.Cmd) error
	Release(pid int)
}

// run runs cmd to its end, through reaper when there is one.
func run(cmd *exec.Cmd, reaper Reaper) error {
	if reaper == nil {
		return cmd.Run()
	}
	if err := reaper.Start(cmd); err != nil {
		return err
	}
	defer reaper.Release(cmd.Process.Pid)
	return cmd.Wait()
}
