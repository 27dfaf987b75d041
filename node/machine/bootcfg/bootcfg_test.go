package bootcfg

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Cmdline
		err      bool
	}{
		{name: "none", in: "console=ttyS0 quiet panic=10\n", want: Cmdline{}},
		{name: "fwcfg and node", in: "console=ttyS0 cairn.config=fwcfg cairn.node=cp1 quiet\n",
			want: Cmdline{Config: Source{Kind: FwCfg}, Node: "cp1"}},
		{name: "hostnet", in: "cairn.hostnet=52:54:00:12:34:56,10.0.2.15/24,10.0.2.2",
			want: Cmdline{HostNet: &HostNet{MAC: mustMAC("52:54:00:12:34:56"), Address: netip.MustParsePrefix("10.0.2.15/24"), Gateway: netip.MustParseAddr("10.0.2.2")}}},
		{name: "disk source", in: "cairn.config=/dev/vdb:cairn/cluster.yaml",
			want: Cmdline{Config: Source{Kind: Disk, Device: "/dev/vdb", Path: "cairn/cluster.yaml"}}},
		{name: "quoted file path", in: `cairn.config="/etc/cairn/my cluster.yaml"`,
			want: Cmdline{Config: Source{Kind: File, Path: "/etc/cairn/my cluster.yaml"}}},
		{name: "last wins", in: "cairn.node=a cairn.node=b", want: Cmdline{Node: "b"}},
		{name: "after -- is init's", in: "cairn.node=a -- cairn.node=b", want: Cmdline{Node: "a"}},
		{name: "similar names ignored", in: "cairn.configx=1 xcairn.node=2", want: Cmdline{}},
		{name: "test service", in: "cairn.node=cp1 cairn.testservice=orphans",
			want: Cmdline{Node: "cp1", TestService: TestServiceOrphans}},
		{name: "timings", in: "cairn.node=cp1 cairn.timings=slow", want: Cmdline{Node: "cp1", Timings: "slow"}},
		{name: "empty node", in: "cairn.node=", err: true},
		{name: "empty timings", in: "cairn.timings=", err: true},
		{name: "unknown test service", in: "cairn.testservice=etcd", err: true},
		{name: "empty test service", in: "cairn.testservice=", err: true},
		{name: "bad source", in: "cairn.config=relative.yaml", err: true},
		{name: "bad hostnet", in: "cairn.hostnet=10.0.2.15/24", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCmdline(tc.in)
			if tc.err {
				require.ErrorIs(t, err, ErrBadArgument)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := ParseCmdline(strings.Join(got.Args(), " "))
			require.NoError(t, err)
			assert.Equal(t, got, again, "Args round-trips")
		})
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Source
		err  bool
	}{
		{in: "fwcfg", want: Source{Kind: FwCfg}},
		{in: "/cluster.yaml", want: Source{Kind: File, Path: "/cluster.yaml"}},
		{in: "/dev/vdb:/cluster.yaml", want: Source{Kind: Disk, Device: "/dev/vdb", Path: "cluster.yaml"}},
		{in: "/dev/disk/by-label/CAIRN:a/b.yaml", want: Source{Kind: Disk, Device: "/dev/disk/by-label/CAIRN", Path: "a/b.yaml"}},
		{in: "", err: true},
		{in: "FWCFG", err: true},
		{in: "/etc/../cluster.yaml", err: true},
		{in: "/dev/vdb:", err: true},
		{in: "/dev/vdb:../x", err: true},
		{in: "vdb:x", err: true},
	} {
		got, err := ParseSource(tc.in)
		if tc.err {
			assert.ErrorIs(t, err, ErrBadArgument, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		again, err := ParseSource(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, again, "String round-trips")
	}
}

func TestParseHostNet(t *testing.T) {
	hn, err := ParseHostNet("52:54:00:aa:bb:cc,10.0.2.15/24")
	require.NoError(t, err)
	assert.False(t, hn.Gateway.IsValid())
	assert.Equal(t, "52:54:00:aa:bb:cc", hn.MAC.String())
	for _, bad := range []string{
		"", "52:54:00:aa:bb:cc", "nomac,10.0.2.15/24", "52:54:00:aa:bb:cc,10.0.2.15",
		"52:54:00:aa:bb:cc,10.0.2.15/24,10.0.3.1", "52:54:00:aa:bb:cc,10.0.2.15/24,fe80::1",
		"52:54:00:aa:bb:cc,10.0.2.15/24,10.0.2.2,x", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01,10.0.2.15/24",
	} {
		_, err := ParseHostNet(bad)
		assert.ErrorIs(t, err, ErrBadArgument, bad)
	}
}

func TestFromEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, []byte("from: file\n"), 0o600))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	data, src, err := FromEnv(env(map[string]string{EnvConfigData: "from: env\n"}), file)
	require.NoError(t, err)
	assert.Equal(t, "from: env\n", string(data), "the data wins over the path")
	assert.Equal(t, "env CAIRN_CONFIG_DATA", src)

	data, src, err = FromEnv(env(nil), file)
	require.NoError(t, err)
	assert.Equal(t, "from: file\n", string(data))
	assert.Equal(t, file, src)

	_, _, err = FromEnv(env(nil), "")
	require.ErrorIs(t, err, ErrNoSource)
	_, _, err = FromEnv(env(nil), file+".missing")
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSourceReadBelowRoot(t *testing.T) {
	root := t.TempDir()
	fw := filepath.Join(root, FwCfgPath)
	require.NoError(t, os.MkdirAll(filepath.Dir(fw), 0o755))
	require.NoError(t, os.WriteFile(fw, []byte("fw: cfg\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "c.yaml"), []byte("a: file\n"), 0o600))

	data, err := Source{Kind: FwCfg}.Read(root)
	require.NoError(t, err)
	assert.Equal(t, "fw: cfg\n", string(data))
	data, err = Source{Kind: File, Path: "/c.yaml"}.Read(root)
	require.NoError(t, err)
	assert.Equal(t, "a: file\n", string(data))
	_, err = Source{}.Read(root)
	require.ErrorIs(t, err, ErrNoSource)

	old := DeviceWait
	DeviceWait = 0
	t.Cleanup(func() { DeviceWait = old })
	_, err = Source{Kind: FwCfg}.Read(t.TempDir())
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "qemu_fw_cfg", "the error names the module to check")
}
