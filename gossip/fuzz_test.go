package gossip

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// FuzzDecodeMeta feeds arbitrary node metadata, as any peer that holds the
// gossip key could send: decoding never panics, refuses only with
// ErrInvalidMeta, and what it accepts encodes again (within MetaMaxSize)
// to bytes that decode to the same Meta.
func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []Meta{
		{Role: RoleWorker},
		testMeta("cp-1"),
		{Role: RoleControlPlane, APIAddr: netip.MustParseAddrPort("[fd00::1]:6440"), Version: "v2.0.0", BootSlot: "B", BootTrial: true,
			FallbackAt: 1796205600, FallbackReason: "slot B was not confirmed within 5m0s", Kubelet: "ready", PodCIDR: "10.244.1.0/24"},
	} {
		b, err := EncodeMeta(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{metaFormat, 9, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMeta(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("an undocumented refusal: %v", err)
			}
			return
		}
		again, err := EncodeMeta(m)
		if errors.Is(err, ErrMetaTooLarge) && len(data) > MetaMaxSize {
			return // accepted from a peer that sent more than this node would
		}
		if err != nil {
			t.Fatalf("decoded meta does not encode: %v (%+v)", err, m)
		}
		back, err := DecodeMeta(again)
		if err != nil || !reflect.DeepEqual(m, back) {
			t.Fatalf("round trip: %+v → %+v (%v)", m, back, err)
		}
	})
}
