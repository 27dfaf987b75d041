package podroutes

import (
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/internal/testutil"
)

func peer(name, cidr, via string) Peer {
	return Peer{Name: name, PodCIDR: netip.MustParsePrefix(cidr), Via: netip.MustParseAddr(via)}
}

// Want drops the node itself, invalid and IPv6 entries and a CIDR claimed
// twice (the first name wins), whatever gossip's order.
func TestWant(t *testing.T) {
	in := []Peer{
		peer("w2", "10.244.2.0/24", "10.9.0.4"),
		peer("cp1", "10.244.0.0/24", "10.9.0.2"),
		peer("self", "10.244.1.0/24", "10.9.0.3"),
		peer("w9", "10.244.2.0/24", "10.9.0.9"), // claims w2's
		{Name: "none", Via: netip.MustParseAddr("10.9.0.5")},
		peer("v6", "fd00::/64", "fd00::1"),
	}
	want := []Peer{peer("cp1", "10.244.0.0/24", "10.9.0.2"), peer("w2", "10.244.2.0/24", "10.9.0.4")}
	assert.Equal(t, want, Want("self", in))
	for i := range in {
		in[0], in[i] = in[i], in[0]
		assert.Equal(t, want, Want("self", append([]Peer(nil), in...)))
	}
}

// newNS is a throwaway network namespace with a link d0 on 10.9.0.1/24.
func newNS(t *testing.T) *netlink.Handle {
	t.Helper()
	testutil.RequireRoot(t, "network namespaces")
	ch := make(chan netns.NsHandle, 1)
	errs := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine
		ns, err := netns.New()
		ch <- ns
		errs <- err
	}()
	ns := <-ch
	require.NoError(t, <-errs)
	h, err := netlink.NewHandleAt(ns)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(); ns.Close() })
	// A veth pair (this host's kernel has no dummy links).
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "d0"}, PeerName: "d1"}))
	l, err := h.LinkByName("d0")
	require.NoError(t, err)
	addr, err := netlink.ParseAddr("10.9.0.1/24")
	require.NoError(t, err)
	require.NoError(t, h.AddrAdd(l, addr))
	require.NoError(t, h.LinkSetUp(l))
	peer, err := h.LinkByName("d1")
	require.NoError(t, err)
	require.NoError(t, h.LinkSetUp(peer))
	return h
}

func routes(t *testing.T, h *netlink.Handle) map[string]string {
	t.Helper()
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	require.NoError(t, err)
	out := map[string]string{}
	for _, r := range rs {
		if r.Dst != nil && r.Gw != nil {
			out[r.Dst.String()] = r.Gw.String() + " " + r.Protocol.String()
		}
	}
	return out
}

// Apply adds, changes and removes its own routes, twice over the same
// state too, and leaves a route of another owner alone.
func TestApply(t *testing.T) {
	h := newNS(t)
	l, err := h.LinkByName("d0")
	require.NoError(t, err)
	_, other, _ := net.ParseCIDR("10.50.0.0/16")
	require.NoError(t, h.RouteAdd(&netlink.Route{Dst: other, Gw: net.ParseIP("10.9.0.254"), LinkIndex: l.Attrs().Index, Protocol: unix.RTPROT_STATIC}))

	a := []Peer{peer("cp1", "10.244.0.0/24", "10.9.0.2"), peer("w1", "10.244.2.0/24", "10.9.0.4")}
	for range 2 {
		require.NoError(t, Apply(h, a))
		got := routes(t, h)
		assert.Equal(t, "10.9.0.2 "+Protocol.String(), got["10.244.0.0/24"])
		assert.Equal(t, "10.9.0.4 "+Protocol.String(), got["10.244.2.0/24"])
	}
	b := []Peer{peer("cp1", "10.244.0.0/24", "10.9.0.3")} // moved; w1 gone
	require.NoError(t, Apply(h, b))
	got := routes(t, h)
	assert.Equal(t, "10.9.0.3 "+Protocol.String(), got["10.244.0.0/24"])
	assert.NotContains(t, got, "10.244.2.0/24")
	assert.Contains(t, got, "10.50.0.0/16", "another owner's route stays")
	require.NoError(t, Apply(h, nil))
	got = routes(t, h)
	assert.NotContains(t, got, "10.244.0.0/24")
	assert.Contains(t, got, "10.50.0.0/16")
	assert.Error(t, Apply(h, []Peer{peer("far", "10.244.7.0/24", "192.0.2.1")}), "a gateway off link is refused, and said")
}
