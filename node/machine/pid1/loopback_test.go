package pid1

import (
	"net"
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestLoopbackUpInNewNamespace: a new network namespace has lo down, as a
// freshly booted kernel does; LoopbackUp brings it up, twice without
// complaint.
func TestLoopbackUpInNewNamespace(t *testing.T) {
	testutil.RequireRoot(t, "mounts and namespaces")
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		ch <- result{ns, err}
	}()
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { r.ns.Close() })
	h, err := netlink.NewHandleAt(r.ns)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	require.NoError(t, err)
	require.Zero(t, lo.Attrs().Flags&net.FlagUp, "lo starts down")
	require.NoError(t, LoopbackUp(h))
	require.NoError(t, LoopbackUp(h))
	lo, err = h.LinkByName("lo")
	require.NoError(t, err)
	require.NotZero(t, lo.Attrs().Flags&net.FlagUp)
}
