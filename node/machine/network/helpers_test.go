package network

import (
	"context"
	"net/netip"
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNS is a throwaway network namespace with a netlink handle into it. It
// is unnamed (no /var/run/netns entry): closing its last file descriptor
// destroys it, with every link inside.
type testNS struct {
	ns netns.NsHandle
	h  *netlink.Handle
}

func newNS(t *testing.T) *testNS {
	t.Helper()
	testutil.RequireRoot(t, "network and UTS namespaces")
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// unshare(CLONE_NEWNET) moves this thread only. The thread stays
		// locked and dies with the goroutine, so it never runs other code.
		runtime.LockOSThread()
		ns, err := netns.New()
		ch <- result{ns, err}
	}()
	r := <-ch
	require.NoError(t, r.err, "create network namespace")
	h, err := netlink.NewHandleAt(r.ns)
	if err != nil {
		r.ns.Close()
		require.NoError(t, err, "netlink handle in namespace")
	}
	t.Cleanup(func() {
		h.Close()
		r.ns.Close()
	})
	n := &testNS{ns: r.ns, h: h}
	n.setUp(t, "lo")
	return n
}

// do runs f on a thread inside the namespace. Sockets created by f stay in
// the namespace and may be used from any goroutine afterwards.
func (n *testNS) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the switched thread is discarded
		if err := netns.Set(n.ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// veth creates a veth pair: name in n, peer in other (or in n when other is
// nil). The peer is set up so that name gets a carrier once it is up.
func (n *testNS) veth(t *testing.T, name string, other *testNS, peer string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	peerNS := n
	if other != nil {
		v.PeerNamespace = netlink.NsFd(int(other.ns))
		peerNS = other
	}
	require.NoError(t, n.h.LinkAdd(v), "add veth %s/%s", name, peer)
	peerNS.setUp(t, peer)
}

func (n *testNS) setUp(t *testing.T, name string) {
	t.Helper()
	l, err := n.h.LinkByName(name)
	require.NoError(t, err)
	require.NoError(t, n.h.LinkSetUp(l))
}

func (n *testNS) observe(t *testing.T) Observed {
	t.Helper()
	obs, err := Observe(n.h)
	require.NoError(t, err)
	return obs
}

// apply applies next and then applies it again, requiring that the first
// run converged in one pass (no kernel side effect undid a step) and that
// the second run finds nothing to do.
func (n *testNS) apply(t *testing.T, prev, next Desired) Changes {
	t.Helper()
	changes, rounds, err := converge(context.Background(), n.h, prev, next)
	require.NoError(t, err, "apply")
	require.LessOrEqual(t, rounds, 1, "apply needed another pass after %v", changes.Strings())
	again, err := Apply(context.Background(), n.h, next, next)
	require.NoError(t, err, "apply again")
	require.Empty(t, again, "second apply of the same spec must change nothing")
	return changes
}

func (o Observed) hasAddress(link, cidr string) bool {
	want := AddressStatus{Link: link, Prefix: netip.MustParsePrefix(cidr)}
	for _, a := range o.Addresses {
		if a == want {
			return true
		}
	}
	return false
}

// route returns the observed route to dst with the given metric.
func (o Observed) route(dst string, metric uint32) (RouteStatus, bool) {
	p := netip.MustParsePrefix(dst)
	for _, r := range o.Routes {
		if r.Dst == p && r.Metric == metric {
			return r, true
		}
	}
	return RouteStatus{}, false
}
