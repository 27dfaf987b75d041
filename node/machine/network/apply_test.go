package network

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// transitionStates are the specs of TestApplyAnyToAnyTransitions. Every state
// names both links with an explicit state and MTU, so that the kernel state
// it leads to does not depend on the state before it. Together they cover a
// renumbered IPv4 address (same IP, new prefix length), an IPv6 prefix-length
// change, routes moving between links with the same destination and metric,
// a link going down, and the empty spec.
func transitionStates(t *testing.T) map[string]Desired {
	t.Helper()
	links := func(mtu0, mtu1 int) []config.Link {
		return []config.Link{{Name: "cn0", Up: true, MTU: mtu0}, {Name: "cn1", Up: true, MTU: mtu1}}
	}
	cfgs := map[string]config.NodeNetwork{
		"base": {
			Links:     links(1500, 1500),
			Addresses: []config.Address{{Link: "cn0", CIDR: "198.18.0.1/24"}},
			Routes:    []config.Route{{Link: "cn0", Dst: "198.51.100.0/24", Gateway: "198.18.0.254", Metric: 100}},
		},
		"dual-stack": {
			Links: links(1400, 1500),
			Addresses: []config.Address{
				{Link: "cn0", CIDR: "198.18.0.1/24"}, {Link: "cn0", CIDR: "198.18.1.1/24"},
				{Link: "cn0", CIDR: "2001:db8:1::1/64"}, {Link: "cn1", CIDR: "198.18.2.1/24"},
			},
			Routes: []config.Route{
				{Link: "cn0", Dst: "0.0.0.0/0", Gateway: "198.18.0.254"},
				{Link: "cn0", Dst: "203.0.113.0/24", Metric: 50},
				{Link: "cn0", Dst: "2001:db8:2::/64", Gateway: "2001:db8:1::fe"},
				{Link: "cn0", Dst: "::/0", Gateway: "2001:db8:1::fe", Metric: 2048},
			},
		},
		"renumbered": {
			Links:     links(9000, 1500),
			Addresses: []config.Address{{Link: "cn0", CIDR: "198.18.0.1/16"}, {Link: "cn0", CIDR: "2001:db8:1::1/48"}},
			Routes: []config.Route{
				{Link: "cn0", Dst: "0.0.0.0/0", Gateway: "198.18.0.254", Metric: 10},
				{Link: "cn0", Dst: "198.51.100.0/24", Gateway: "198.18.0.254", Metric: 100},
				{Link: "cn0", Dst: "2001:db8:2::/64", Gateway: "2001:db8:1::fe"},
			},
		},
		"moved": {
			Links: links(1500, 1280),
			Addresses: []config.Address{
				{Link: "cn0", CIDR: "198.18.0.1/24"},
				{Link: "cn1", CIDR: "198.18.2.1/24"}, {Link: "cn1", CIDR: "2001:db8:3::1/64"},
			},
			Routes: []config.Route{
				{Link: "cn1", Dst: "0.0.0.0/0", Gateway: "198.18.2.254"},
				{Link: "cn1", Dst: "198.51.100.0/24", Gateway: "198.18.2.254", Metric: 100},
				{Link: "cn1", Dst: "2001:db8:2::/64", Gateway: "2001:db8:3::fe"},
			},
		},
		"down": {
			Links:     links(1500, 1500),
			Addresses: []config.Address{{Link: "cn0", CIDR: "198.18.0.1/24"}, {Link: "cn0", CIDR: "198.18.4.1/24"}},
			Routes:    []config.Route{{Link: "cn1", Dst: "203.0.113.0/24", Metric: 50}},
		},
		"empty": {Links: links(1500, 1500)},
	}
	states := make(map[string]Desired, len(cfgs))
	for name, c := range cfgs {
		d, err := DesiredFrom(c)
		require.NoError(t, err, name)
		states[name] = d
	}
	// Configuration cannot ask for a link to go down; a spec can.
	states["down"].Links[0].State = LinkStateDown
	return states
}

// TestApplyAnyToAnyTransitions walks every ordered pair of states in random
// order (Tailscale's router test): each transition applies twice, the second
// run changes nothing, and each state always yields the same kernel state
// however it was reached.
func TestApplyAnyToAnyTransitions(t *testing.T) {
	n := newNS(t)
	n.veth(t, "cn0", nil, "cn0p")
	n.veth(t, "cn1", nil, "cn1p")
	states := transitionStates(t)

	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	slices.Sort(names)
	type pair struct{ from, to string }
	var pairs []pair
	for _, a := range names {
		for _, b := range names {
			if a != b {
				pairs = append(pairs, pair{a, b})
			}
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("shuffle seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })

	seen := make(map[string]Observed)
	cur := Desired{}
	visit := func(name string) {
		t.Helper()
		next := states[name]
		n.apply(t, cur, next)
		cur = next
		obs := n.observe(t)
		requireSatisfies(t, obs, next, "cn0", "cn1")
		got := managedView(obs, "cn0", "cn1")
		if want, ok := seen[name]; ok {
			require.Equal(t, want, got, "state %q reached again must look the same", name)
		} else {
			seen[name] = got
		}
	}
	last := ""
	for _, p := range pairs {
		if last != p.from {
			visit(p.from)
		}
		visit(p.to)
		last = p.to
	}
	require.Len(t, seen, len(states))
}

// managedView is the part of an observation that the test's specs decide:
// the two links and what is on them, without what the kernel derives on its
// own time (IPv6 link-local addresses and their routes appear when the
// carrier does, asynchronously).
func managedView(o Observed, links ...string) Observed {
	var v Observed
	for _, l := range o.Links {
		if slices.Contains(links, l.Name) {
			l.Index = 0
			v.Links = append(v.Links, l)
		}
	}
	for _, a := range o.Addresses {
		if slices.Contains(links, a.Link) && !a.Prefix.Addr().IsLinkLocalUnicast() {
			v.Addresses = append(v.Addresses, a)
		}
	}
	for _, r := range o.Routes {
		if slices.Contains(links, r.Link) && !r.Dst.Addr().IsLinkLocalUnicast() && !r.Dst.Addr().IsMulticast() {
			v.Routes = append(v.Routes, r)
		}
	}
	return v
}

// requireSatisfies checks the observation against the spec: link state and
// MTU, exactly the spec's addresses on the given links, every spec route,
// and no other route installed by Apply.
func requireSatisfies(t *testing.T, o Observed, d Desired, links ...string) {
	t.Helper()
	for _, want := range d.Links {
		have, ok := o.Link(want.Name)
		require.True(t, ok, "link %s", want.Name)
		if want.MTU != 0 {
			require.Equal(t, want.MTU, have.MTU, "mtu of %s", want.Name)
		}
		if want.State != LinkStateUnchanged {
			require.Equal(t, want.State == LinkStateUp, have.Up, "state of %s", want.Name)
		}
	}
	v := managedView(o, links...)
	var wantAddrs []AddressStatus
	for _, a := range d.Addresses {
		wantAddrs = append(wantAddrs, AddressStatus(a))
	}
	require.ElementsMatch(t, wantAddrs, v.Addresses, "addresses")
	var static []RouteStatus
	for _, r := range v.Routes {
		if r.Protocol == unix.RTPROT_STATIC {
			wantScope := unix.RT_SCOPE_UNIVERSE
			if !r.Gateway.IsValid() && r.Dst.Addr().Is4() {
				wantScope = unix.RT_SCOPE_LINK
			}
			require.Equal(t, wantScope, r.Scope, "scope of %s", r.Dst)
			r.Protocol, r.Scope = 0, 0
			static = append(static, r)
		}
	}
	var wantRoutes []RouteStatus
	for _, r := range d.Routes {
		wantRoutes = append(wantRoutes, RouteStatus{
			Link: r.Link, Dst: r.Dst, Gateway: r.Gateway, Metric: effectiveMetric(r.Dst, r.Metric),
		})
	}
	require.ElementsMatch(t, wantRoutes, static, "routes installed by apply")
}

// TestApplyKeepsGoingPastMissingLink: a spec naming a link that does not
// exist still converges everything else and reports the missing link.
func TestApplyKeepsGoingPastMissingLink(t *testing.T) {
	n := newNS(t)
	n.veth(t, "cn0", nil, "cn0p")
	d, err := DesiredFrom(config.NodeNetwork{
		Links:     []config.Link{{Name: "ghost0", Up: true}, {Name: "cn0", Up: true, MTU: 1400}},
		Addresses: []config.Address{{Link: "ghost0", CIDR: "198.18.9.1/24"}, {Link: "cn0", CIDR: "198.18.0.1/24"}},
		Routes:    []config.Route{{Link: "ghost0", Dst: "0.0.0.0/0", Gateway: "198.18.9.254"}},
	})
	require.NoError(t, err)

	changes, err := Apply(context.Background(), n.h, Desired{}, d)
	require.ErrorIs(t, err, ErrLinkNotFound)
	require.Contains(t, changes, Change{Kind: KindAddress, Action: ActionAdd, Link: "cn0", Object: "198.18.0.1/24"})
	obs := n.observe(t)
	require.True(t, obs.hasAddress("cn0", "198.18.0.1/24"))
	cn0, _ := obs.Link("cn0")
	require.Equal(t, 1400, cn0.MTU)
	require.True(t, cn0.Up)
}

// TestPlanReportsWithoutApplying: Plan lists what Apply would do, leaves the
// kernel alone, and Apply then makes exactly those changes.
func TestPlanReportsWithoutApplying(t *testing.T) {
	n := newNS(t)
	n.veth(t, "cn0", nil, "cn0p")
	d, err := DesiredFrom(config.NodeNetwork{
		Links:     []config.Link{{Name: "cn0", Up: true, MTU: 1400}},
		Addresses: []config.Address{{Link: "cn0", CIDR: "198.18.0.1/24"}},
		Routes:    []config.Route{{Link: "cn0", Dst: "0.0.0.0/0", Gateway: "198.18.0.254"}},
	})
	require.NoError(t, err)
	before := n.observe(t)

	planned, err := Plan(context.Background(), n.h, Desired{}, d)
	require.NoError(t, err)
	require.Equal(t, []string{
		"set link cn0 mtu 1400",
		"set link cn0 up",
		"add address 198.18.0.1/24 on cn0",
		"replace route 0.0.0.0/0 via 198.18.0.254 metric 0 on cn0",
	}, planned.Strings())
	require.Equal(t, before, n.observe(t), "plan must not change the kernel")

	applied := n.apply(t, Desired{}, d)
	require.Equal(t, planned, applied)
	gw, ok := n.observe(t).route("0.0.0.0/0", 0)
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddr("198.18.0.254"), gw.Gateway)
}
