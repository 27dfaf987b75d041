package statedisk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/cluster/config"
)

const diskSize = 64 << 20

func options(disk, mountPoint, clusterID string) Options {
	return Options{
		Selector:  config.StateDisk{Path: disk},
		ClusterID: clusterID, ClusterName: "c-" + clusterID, Node: "cp1",
		MountPoint: mountPoint,
	}
}

func digest(t *testing.T, file string) [32]byte {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return [32]byte(h.Sum(nil))
}

// TestPrepareBlankThenReboot: a blank disk is partitioned (the kernel
// reads the GPT written here and makes the partition), formatted, marked
// and mounted; a second Prepare, as after a reboot, mounts it as it is: a
// file written the first time is still there. The saved config is found
// by LoadSaved on a boot with no config source.
func TestPrepareBlankThenReboot(t *testing.T) {
	disk, _ := loopDisk(t, diskSize)
	mnt := t.TempDir()
	inMountNS(t, func() error {
		st, err := Prepare(context.Background(), options(disk, mnt, "aaaa"))
		if err != nil {
			return err
		}
		if st.State != Formatted || st.Partition != disk+"p1" {
			return fmt.Errorf("first boot: %+v", st)
		}
		m, err := ReadMarker(mnt)
		if err != nil {
			return err
		}
		if m.ClusterID != "aaaa" || m.ClusterName != "c-aaaa" || m.Node != "cp1" {
			return fmt.Errorf("marker: %+v", m)
		}
		if err := os.MkdirAll(filepath.Join(mnt, "lib", "cairn"), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(mnt, "lib", "cairn", "raft.db"), []byte("state"), 0o600); err != nil {
			return err
		}
		if err := SaveConfig(mnt, []byte("cluster: saved\n"), "cp1"); err != nil {
			return err
		}
		if err := unix.Unmount(mnt, 0); err != nil {
			return err
		}

		st, err = Prepare(context.Background(), options(disk, mnt, "aaaa"))
		if err != nil {
			return err
		}
		if st.State != Mounted {
			return fmt.Errorf("second boot: %+v", st)
		}
		data, err := os.ReadFile(filepath.Join(mnt, "lib", "cairn", "raft.db"))
		if err != nil || string(data) != "state" {
			return fmt.Errorf("state after the second boot: %q, %v", data, err)
		}
		if err := unix.Unmount(mnt, 0); err != nil {
			return err
		}

		// A boot without a config source: a fake sysfs names the loop
		// device as a disk of its own (LoadSaved skips loop devices), and
		// a fake /dev without its partition node, which LoadSaved makes.
		s := fakeLoopSys(t, disk)
		saved, err := LoadSaved(s, mnt)
		if err != nil {
			return err
		}
		if string(saved.Config) != "cluster: saved\n" || saved.Node != "cp1" || saved.Status.State != Mounted {
			return fmt.Errorf("saved: %+v", saved)
		}
		// Prepare finds it mounted already and keeps it.
		o := options("", mnt, "aaaa")
		o.Selector, o.Sysfs = config.StateDisk{MinSize: "1MiB"}, s
		st, err = Prepare(context.Background(), o)
		if err != nil || st.State != Mounted {
			return fmt.Errorf("prepare after LoadSaved: %+v, %v", st, err)
		}
		return unix.Unmount(mnt, 0)
	})
}

// fakeLoopSys is a sysfs whose block/vdz is the loop device's directory
// and a dev tree with a vdz node of the loop device's number.
func fakeLoopSys(t *testing.T, disk string) Sysfs {
	root := t.TempDir()
	name := filepath.Base(disk)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys", "block"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join("/sys/block", name), filepath.Join(root, "sys", "block", "vdz")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(disk, &st))
	require.NoError(t, unix.Mknod(filepath.Join(root, "dev", "vdz"), unix.S_IFBLK|0o600, int(st.Rdev)))
	require.NoError(t, os.Symlink("/sys/dev", filepath.Join(root, "sys", "dev")))
	return Sysfs{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
}

// TestPrepareRefusesOtherClustersDisk: a disk marked by another cluster is
// not formatted nor marked: not a byte of it changes, and it is left
// unmounted.
func TestPrepareRefusesOtherClustersDisk(t *testing.T) {
	disk, file := loopDisk(t, diskSize)
	mnt := t.TempDir()
	inMountNS(t, func() error {
		if _, err := Prepare(context.Background(), options(disk, mnt, "other")); err != nil {
			return err
		}
		if err := unix.Unmount(mnt, 0); err != nil {
			return err
		}
		unix.Sync()
		before := digest(t, file)
		st, err := Prepare(context.Background(), options(disk, mnt, "mine"))
		if !errors.Is(err, ErrRefused) || st.State != Refused {
			return fmt.Errorf("want refused, got %+v, %v", st, err)
		}
		if !bytes.Contains([]byte(st.Reason), []byte(`cluster "c-other" (id other)`)) {
			return fmt.Errorf("reason %q does not name the other cluster", st.Reason)
		}
		if isMounted(mnt) {
			return errors.New("refused disk left mounted")
		}
		unix.Sync()
		if digest(t, file) != before {
			return errors.New("the refused disk was written")
		}
		return nil
	})
}

func isMounted(dir string) bool {
	var st, parent unix.Stat_t
	return unix.Stat(dir, &st) == nil && unix.Stat(filepath.Dir(dir), &parent) == nil && st.Dev != parent.Dev
}

// TestPrepareRefusesUnknownData: random bytes, a filesystem of its own
// (ext4 made straight on the disk, no partition table), and another GPT
// are each refused, with the disk unchanged.
func TestPrepareRefusesUnknownData(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill func(t *testing.T, disk, file string)
		want string
	}{
		{"random", func(t *testing.T, _, file string) {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			require.NoError(t, err)
			defer f.Close()
			_, err = io.CopyN(f, rand.Reader, 4<<20)
			require.NoError(t, err)
		}, "unrecognized data"},
		{"whole-disk ext4", func(t *testing.T, disk, _ string) {
			o := Options{}
			o.defaults()
			require.NoError(t, o.mkfs(context.Background(), disk))
		}, "an ext2/3/4 filesystem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk, file := loopDisk(t, diskSize)
			tc.fill(t, disk, file)
			before := digest(t, file)
			mnt := t.TempDir()
			st, err := Prepare(context.Background(), options(disk, mnt, "mine"))
			require.ErrorIs(t, err, ErrRefused)
			assert.Equal(t, Refused, st.State)
			assert.Contains(t, st.Reason, tc.want)
			assert.Equal(t, before, digest(t, file), "the disk is unchanged")

			require.NoError(t, Wipe(disk))
			c, _, err := inspectDisk(disk)
			require.NoError(t, err)
			assert.Equal(t, Blank, c.Kind, "a wiped disk is blank for the next boot")
		})
	}
}

// TestPrepareFinishesAnInterruptedFirstBoot: a disk with our GPT but an
// empty partition (the first boot stopped before mkfs) is formatted.
func TestPrepareFinishesAnInterruptedFirstBoot(t *testing.T) {
	disk, _ := loopDisk(t, diskSize)
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = WriteGPT(f, diskSize, 512)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	mnt := t.TempDir()
	inMountNS(t, func() error {
		st, err := Prepare(context.Background(), options(disk, mnt, "aaaa"))
		if err != nil || st.State != Formatted {
			return fmt.Errorf("%+v, %v", st, err)
		}
		return unix.Unmount(mnt, 0)
	})
}
