package pid1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func targets(ms []Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.FSType+":"+m.Target)
	}
	return out
}

func TestKernelMounts(t *testing.T) {
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	for _, tc := range []struct {
		name string
		k    Kernel
		want []string
	}{
		{"cgroup2 wins over v1", Kernel{Filesystems: map[string]bool{"cgroup": true, "cgroup2": true, "securityfs": true, "bpf": true}, Cgroups: []string{"cpu"}, Dirs: all},
			[]string{"cgroup2:/sys/fs/cgroup", "securityfs:/sys/kernel/security", "bpf:/sys/fs/bpf"}},
		{"v1 hierarchies on a tmpfs", Kernel{Filesystems: map[string]bool{"cgroup": true}, Cgroups: []string{"cpu", "memory"}, Dirs: all},
			[]string{"tmpfs:/sys/fs/cgroup", "cgroup:/sys/fs/cgroup/cpu", "cgroup:/sys/fs/cgroup/memory"}},
		{"no mount point, no mount", Kernel{Filesystems: map[string]bool{"securityfs": true, "bpf": true}, Dirs: none}, nil},
		{"nothing offered", Kernel{Filesystems: map[string]bool{}, Dirs: all}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, targets(KernelMounts(tc.k)))
		})
	}
}

func TestParseProcFiles(t *testing.T) {
	fs, err := ParseFilesystems(strings.NewReader("nodev\tsysfs\nnodev\tcgroup2\n\text4\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"sysfs": true, "cgroup2": true, "ext4": true}, fs)
	cg, err := ParseCgroups(strings.NewReader("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t0\nmemory\t0\t1\t1\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"cpuset", "memory"}, cg)
}

func TestBaseMountsParentsFirst(t *testing.T) {
	seen := map[string]bool{"/": true}
	for _, m := range BaseMounts() {
		assert.True(t, seen[filepath.Dir(m.Target)], "%s before its parent", m.Target)
		seen[m.Target] = true
	}
}

// TestSetupMountsBelowRoot runs the real mount table below a temporary
// root in a private mount namespace: every base mount and what the kernel
// offers end up mounted with the expected type, a second Setup finds them
// present and mounts nothing twice, and the read-only bind remount of the
// root refuses writes while the mounts on it stay writable.
func TestSetupMountsBelowRoot(t *testing.T) {
	root := t.TempDir()
	inMountNS(t, func() error {
		if err := unix.Mount("tmpfs", root, "tmpfs", 0, ""); err != nil {
			return err
		}
		m := Mounter{Root: root}
		res, err := m.Setup()
		if err != nil {
			return fmt.Errorf("setup: %w (%+v)", err, res)
		}
		ms, err := mountsIn()
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, mi := range ms {
			got[mi.Target] = mi.FSType
		}
		for _, r := range res {
			if r.State != "mounted" {
				return fmt.Errorf("%s: %s", r.Target, r.State)
			}
			if got[filepath.Join(root, r.Target)] != r.FSType {
				return fmt.Errorf("%s is %q, want %s", r.Target, got[filepath.Join(root, r.Target)], r.FSType)
			}
		}
		for _, want := range []string{"/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/tmp", "/sys/fs/cgroup"} {
			if _, ok := got[filepath.Join(root, want)]; !ok {
				return fmt.Errorf("%s not mounted", want)
			}
		}
		again, err := m.Setup()
		if err != nil {
			return err
		}
		for _, r := range again {
			if r.State != "present" {
				return fmt.Errorf("second setup: %s %s", r.Target, r.State)
			}
		}
		if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
			return err
		}
		if err := ReadOnly(root); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o600); !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("write to the read-only root: %v, want EROFS", err)
		}
		if err := os.WriteFile(filepath.Join(root, "tmp", "file"), nil, 0o600); err != nil {
			return fmt.Errorf("write to /tmp on the read-only root: %w", err)
		}
		// A mount point made before the remount still takes a mount.
		if _, err := m.All([]Mount{{Source: "tmpfs", Target: "/var", FSType: "tmpfs"}}); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, "var", "file"), nil, 0o600)
	})
}
