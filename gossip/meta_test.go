package gossip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetaRoundTrip(t *testing.T) {
	for name, m := range map[string]Meta{
		"full control plane": {
			Role:            RoleControlPlane,
			APIAddr:         netip.MustParseAddrPort("10.1.2.3:6440"),
			RaftAddr:        netip.MustParseAddrPort("[fd00::1]:6442"),
			Version:         "v1.2.3",
			BootSlot:        "B",
			ConfigRevision:  1 << 40,
			Health:          "degraded: etcd",
			HasRaftState:    true,
			Leader:          "cp-1",
			LeaderTerm:      42,
			StateID:         "0123456789abcdef",
			EtcdSettings:    "0123456789ab",
			Etcd:            "learner",
			Kubernetes:      "waiting-for-etcd",
			KubeSettings:    "ba9876543210",
			Kubelet:         "not-ready",
			KubeletSettings: "0a1b2c3d4e5f",
			PodCIDR:         "10.244.12.0/24",
			BootTrial:       true,
			FallbackAt:      1796205600,
			FallbackReason:  "slot B was not confirmed within 5m0s",
		},
		"bare worker": {Role: RoleWorker},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := EncodeMeta(m)
			require.NoError(t, err)
			got, err := DecodeMeta(b)
			require.NoError(t, err)
			require.Equal(t, m, got)
		})
	}
}

// TestMetaIsCompact pins the size of a typical advertisement, which every
// alive message carries.
func TestMetaIsCompact(t *testing.T) {
	b, err := EncodeMeta(testMeta("cp-1"))
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), 42, "typical meta grew to %d bytes", len(b)) // 40 before the two bytes of an empty fallback
	m := testMeta("cp-1")
	m.Leader, m.LeaderTerm, m.StateID, m.EtcdSettings, m.Etcd = "cp-1", 1<<20, "0123456789abcdef", "0123456789ab", "waiting-to-be-added"
	m.Kubernetes, m.KubeSettings = "ready", "ba9876543210"
	m.Kubelet, m.KubeletSettings, m.PodCIDR = "ready", "0a1b2c3d4e5f", "10.244.12.0/24"
	b, err = EncodeMeta(m)
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), 150, "a control plane's meta with a leader hint, state ID, etcd, Kubernetes and kubelet state grew to %d bytes", len(b))
}

// Metadata of a node running an older version ends before LeaderTerm and
// StateID, or before EtcdSettings; it decodes with them empty.
func TestMetaFromOlderEncoder(t *testing.T) {
	m := testMeta("cp-1")
	m.Leader = "cp-2"
	b, err := EncodeMeta(m)
	require.NoError(t, err)
	got, err := DecodeMeta(b[:len(b)-6-5]) // LeaderTerm 0, an empty StateID, EtcdSettings, Etcd, Kubernetes and KubeSettings are one byte each, as are the five fields after them
	require.NoError(t, err)
	require.Equal(t, m, got)

	m.LeaderTerm, m.StateID = 7, "0123456789abcdef"
	b, err = EncodeMeta(m)
	require.NoError(t, err)
	got, err = DecodeMeta(b[:len(b)-4-5]) // before EtcdSettings existed
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestMetaNameIsNotTransmitted(t *testing.T) {
	m := testMeta("cp-1")
	m.Name = "cp-1"
	b, err := EncodeMeta(m)
	require.NoError(t, err)
	got, err := DecodeMeta(b)
	require.NoError(t, err)
	require.Empty(t, got.Name)
}

func TestMetaTooLarge(t *testing.T) {
	m := testMeta("cp-1")
	m.Health = strings.Repeat("x", MetaMaxSize)
	_, err := EncodeMeta(m)
	require.ErrorIs(t, err, ErrMetaTooLarge)
}

func TestMetaInvalid(t *testing.T) {
	_, err := EncodeMeta(Meta{Role: "boss"})
	require.ErrorIs(t, err, ErrInvalidMeta)

	full := testMeta("cp-1")
	full.FallbackReason = "exited" // the last field, so cutting a byte cuts into it
	good, err := EncodeMeta(full)
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"empty":          nil,
		"unknown format": append([]byte{9}, good[1:]...),
		"unknown role":   append([]byte{good[0], 9}, good[2:]...),
		"truncated":      good[:len(good)-1],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeMeta(b)
			require.ErrorIs(t, err, ErrInvalidMeta)
		})
	}
}

// TestMetaIgnoresAppendedFields shows the compatibility rule: a newer node
// may append fields and older nodes still decode what they know.
func TestMetaIgnoresAppendedFields(t *testing.T) {
	m := testMeta("cp-1")
	b, err := EncodeMeta(m)
	require.NoError(t, err)
	got, err := DecodeMeta(append(b, 0x03, 'n', 'e', 'w'))
	require.NoError(t, err)
	require.Equal(t, m, got)
}
