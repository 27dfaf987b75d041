package config

import (
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// uniques remembers the first path at which each value was seen, to report
// later duplicates with a pointer to the first.
type uniques map[string]seenAt

type seenAt struct {
	path     fieldPath
	explicit bool
}

// check records key at p and reports a duplicate. When neither occurrence was
// written explicitly (both defaulted from the node name) the duplicate is left
// to the name check, so one mistake yields one violation.
func (u uniques) check(key string, p fieldPath, explicit bool, what string, vs *violations) {
	if key == "" {
		return
	}
	if first, dup := u[key]; dup {
		if explicit || first.explicit {
			vs.add(p, "duplicate %s %s (also %s)", what, key, first.path)
		}
		return
	}
	u[key] = seenAt{path: p, explicit: explicit}
}

// nodeChecker holds what the node checks share across nodes.
type nodeChecker struct {
	vs                                              *violations
	pod, svc                                        netip.Prefix
	names, matchNames, macs, hostMatches, hostnames uniques
	endpoints, ips                                  uniques
	kube                                            kubeRangeChecker
}

func validateNodes(c *Config, vs *violations) {
	if len(c.Nodes) == 0 {
		vs.add("nodes", "at least one node is required")
		return
	}
	nc := &nodeChecker{
		vs: vs, names: uniques{}, matchNames: uniques{}, macs: uniques{}, hostMatches: uniques{},
		hostnames: uniques{}, endpoints: uniques{}, ips: uniques{},
	}
	// Parse errors are reported by validateCluster; an invalid prefix is zero
	// and overlaps nothing.
	nc.pod, _ = netip.ParsePrefix(c.Cluster.Network.PodCIDR)
	nc.svc, _ = netip.ParsePrefix(c.Cluster.Network.ServiceCIDR)
	nc.kube = newKubeRangeChecker(nc.pod, nc.svc)
	for i := range c.Nodes {
		nc.node(&c.Nodes[i], fieldPath("nodes").index(i))
	}
}

func (nc *nodeChecker) node(n *Node, p fieldPath) {
	vs := nc.vs
	if checkDNSLabel(n.Name, p.key("name"), vs) {
		nc.names.check(n.Name, p.key("name"), true, "node name", vs)
	}
	switch n.Role {
	case RoleControlPlane, RoleWorker:
	case "":
		vs.add(p.key("role"), "is required (controlplane or worker)")
	default:
		vs.add(p.key("role"), "%q is not a role; want controlplane or worker", n.Role)
	}
	nc.match(n, p)
	nc.endpoint(n, n.APIAddress, DefaultAPIPort, p.key("apiAddress"))
	nc.endpoint(n, n.GossipAddress, DefaultGossipPort, p.key("gossipAddress"))
	switch {
	case n.Role == RoleControlPlane:
		nc.endpoint(n, n.RaftAddress, DefaultRaftPort, p.key("raftAddress"))
	case n.RaftAddress != "":
		vs.add(p.key("raftAddress"), "is only allowed on controlplane nodes; a %s never joins Raft", n.Role)
	}
	nc.network(n, p.key("network"))
	nc.kernel(n, p.key("kernel"))
	nc.certSANs(n, p.key("certSANs"))
	nc.stateDisk(n.StateDisk, p.key("stateDisk"))
}

// certSANs checks each extra certificate name: an IP address that is not
// unspecified, or a DNS name, each once.
func (nc *nodeChecker) certSANs(n *Node, p fieldPath) {
	checkCertSANs(n.CertSANs, p, nc.vs)
}

// stateDisk checks the state disk selector: an absolute /dev path, sizes
// that parse, and minSize at most maxSize.
func (nc *nodeChecker) stateDisk(d StateDisk, p fieldPath) {
	if d.Path != "" && (!strings.HasPrefix(d.Path, "/dev/") || strings.Contains(d.Path, "..")) {
		nc.vs.add(p.key("path"), "%q is not a device path under /dev/, such as /dev/vda", d.Path)
	}
	minSize, minOK := nc.size(d.MinSize, p.key("minSize"))
	maxSize, maxOK := nc.size(d.MaxSize, p.key("maxSize"))
	if minOK && maxOK && d.MinSize != "" && d.MaxSize != "" && minSize > maxSize {
		nc.vs.add(p.key("maxSize"), "%s is smaller than minSize %s", d.MaxSize, d.MinSize)
	}
}

// size checks one optional size field.
func (nc *nodeChecker) size(s string, p fieldPath) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	n, err := ParseSize(s)
	if err != nil {
		nc.vs.add(p, "%v", err)
		return 0, false
	}
	return n, true
}

func (nc *nodeChecker) match(n *Node, p fieldPath) {
	vs, mp := nc.vs, p.key("match")
	if n.Match.Name == "" {
		nc.matchNames.check(n.Name, p.key("name"), false, "match name", vs)
	} else if checkDNSLabel(n.Match.Name, mp.key("name"), vs) {
		nc.matchNames.check(n.Match.Name, mp.key("name"), true, "match name", vs)
	}
	if n.Match.MAC != "" {
		mac, err := net.ParseMAC(n.Match.MAC)
		if err != nil {
			vs.add(mp.key("mac"), "%q is not a MAC address like 52:54:00:12:34:56", n.Match.MAC)
		} else {
			nc.macs.check(mac.String(), mp.key("mac"), true, "match MAC", vs)
		}
	}
	if h := strings.ToLower(n.Match.Hostname); h != "" {
		if !isDNSSubdomain(h) {
			vs.add(mp.key("hostname"), "%q is not a valid hostname", n.Match.Hostname)
		} else {
			nc.hostMatches.check(h, mp.key("hostname"), true, "match hostname", vs)
		}
	}
}

// endpoint checks one advertised address, explicit or derived from the node's
// first static address, and that no two endpoints in the cluster collide.
func (nc *nodeChecker) endpoint(n *Node, explicit string, port int, p fieldPath) {
	if explicit != "" {
		if key, ok := checkHostPort(explicit, p, nc.vs); ok {
			nc.endpoints.check(key, p, true, "address", nc.vs)
			nc.kube.endpoint(n, key, p, nc.vs)
		}
		return
	}
	if len(n.Network.Addresses) == 0 {
		nc.vs.add(p, "is required when network.addresses is empty (the default is the first address, port %d)", port)
		return
	}
	if ep := n.endpoint("", port); ep != "" {
		nc.endpoints.check(ep, p, true, "address", nc.vs)
	}
}

// kernel checks the kernel module names (modprobe's name syntax, each
// once) and the sysctls.
func (nc *nodeChecker) kernel(n *Node, p fieldPath) {
	nc.sysctls(n, p.key("sysctls"))
	seen := map[string]bool{}
	for j, m := range n.Kernel.Modules {
		mp := p.key("modules").index(j).key("name")
		switch key := strings.ReplaceAll(m.Name, "-", "_"); {
		case !moduleNameRE.MatchString(m.Name):
			nc.vs.add(mp, "%q is not a kernel module name (letters, digits, '_' and '-', at most 64)", m.Name)
		case seen[key]:
			nc.vs.add(mp, "module %q is listed twice", m.Name)
		default:
			seen[key] = true
		}
	}
}

var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// sysctls checks each kernel parameter's name (dotted, as sysctl(8) takes
// it; interface names may hold '-' and '@', and a '/' stands for a '.' in
// one, as in net.ipv4.conf.eth0/100.forwarding) and value (one line). Whether
// the kernel has the parameter is known only on the node, which reports it.
func (nc *nodeChecker) sysctls(n *Node, p fieldPath) {
	for _, k := range slices.Sorted(maps.Keys(n.Kernel.Sysctls)) {
		kp := p.mapKey(k)
		v := n.Kernel.Sysctls[k]
		switch {
		case !sysctlNameRE.MatchString(k) || strings.Contains(k, "..") || slashSegment(k):
			nc.vs.add(kp, "%q is not a sysctl name like net.ipv4.ip_forward", k)
		case v == "" || strings.ContainsAny(v, "\n\r\x00") || len(v) > 4096:
			nc.vs.add(kp, "value %q must be one non-empty line of at most 4096 bytes", v)
		}
	}
}

var sysctlNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[A-Za-z0-9_@:/-]+)+$`)

// slashSegment reports a segment of slashes only, which would name "." or
// ".." in /proc/sys.
func slashSegment(name string) bool {
	for seg := range strings.SplitSeq(name, ".") {
		if seg != "" && strings.Trim(seg, "/") == "" {
			return true
		}
	}
	return false
}

func (nc *nodeChecker) network(n *Node, p fieldPath) {
	vs := nc.vs
	if n.Network.Hostname != "" {
		if checkDNSSubdomain(n.Network.Hostname, p.key("hostname"), vs) {
			nc.hostnames.check(n.Network.Hostname, p.key("hostname"), true, "hostname", vs)
		}
	} else {
		nc.hostnames.check(n.Name, p.key("hostname"), false, "hostname", vs)
	}

	links := map[string]bool{}
	for j, l := range n.Network.Links {
		lp := p.key("links").index(j)
		switch {
		case l.Name == "":
			vs.add(lp.key("name"), "is required")
		case len(l.Name) > maxLinkName || strings.ContainsAny(l.Name, "/: \t\n") || l.Name == "." || l.Name == "..":
			vs.add(lp.key("name"), "%q is not a valid interface name (at most %d characters, no '/', ':' or spaces)", l.Name, maxLinkName)
		case links[l.Name]:
			vs.add(lp.key("name"), "duplicate link %s", l.Name)
		default:
			links[l.Name] = true
		}
		if l.MTU != 0 && (l.MTU < minMTU || l.MTU > maxMTU) {
			vs.add(lp.key("mtu"), "%d is out of range %d..%d", l.MTU, minMTU, maxMTU)
		}
	}

	onLink := map[string][]netip.Prefix{}
	// A link with an invalid address has unknown prefixes; reachability on it
	// is not judged, so one typo yields one violation.
	unknownPrefixes := map[string]bool{}
	for j, a := range n.Network.Addresses {
		ap := p.key("addresses").index(j)
		nc.linkRef(a.Link, links, ap.key("link"))
		if pfx, ok := nc.address(a.CIDR, ap.key("cidr")); ok {
			nc.kube.network(n, pfx, ap.key("cidr"), vs)
			onLink[a.Link] = append(onLink[a.Link], pfx)
		} else {
			unknownPrefixes[a.Link] = true
		}
	}
	for j, r := range n.Network.Routes {
		rp := p.key("routes").index(j)
		nc.linkRef(r.Link, links, rp.key("link"))
		judge := links[r.Link] && !unknownPrefixes[r.Link]
		nc.route(r, onLink[r.Link], judge, rp)
	}
}

func (nc *nodeChecker) linkRef(name string, links map[string]bool, p fieldPath) {
	switch {
	case name == "":
		nc.vs.add(p, "is required")
	case !links[name]:
		nc.vs.add(p, "refers to link %q, which is not declared in network.links", name)
	}
}

func (nc *nodeChecker) address(cidr string, p fieldPath) (netip.Prefix, bool) {
	vs := nc.vs
	if cidr == "" {
		vs.add(p, "is required")
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		vs.add(p, "%q is not an address with prefix length like 10.5.0.2/24", cidr)
		return netip.Prefix{}, false
	}
	ip := pfx.Addr()
	if ip.IsUnspecified() || ip.IsMulticast() {
		vs.add(p, "%s is not a unicast address", ip)
		return netip.Prefix{}, false
	}
	for _, r := range []struct {
		name string
		pfx  netip.Prefix
	}{{"podCIDR", nc.pod}, {"serviceCIDR", nc.svc}} {
		if r.pfx.IsValid() && r.pfx.Contains(ip) {
			vs.add(p, "%s lies inside cluster.network.%s %s", ip, r.name, r.pfx)
		}
	}
	nc.ips.check(ip.String(), p, true, "address", vs)
	return pfx, true
}

// route checks a route; judgeReach says whether onLink is known well enough
// to decide that the gateway is unreachable.
func (nc *nodeChecker) route(r Route, onLink []netip.Prefix, judgeReach bool, p fieldPath) {
	vs := nc.vs
	dst, dstOK := checkNetworkPrefix(r.Dst, p.key("dst"), vs)
	if r.Gateway == "" {
		return
	}
	gw, err := netip.ParseAddr(r.Gateway)
	switch {
	case err != nil || gw.Zone() != "":
		vs.add(p.key("gateway"), "%q is not an IP address", r.Gateway)
		return
	case gw.IsUnspecified() || gw.IsMulticast():
		vs.add(p.key("gateway"), "%s is not a unicast address", gw)
		return
	case dstOK && gw.Is4() != dst.Addr().Is4():
		vs.add(p.key("gateway"), "%s is not in the same address family as dst %s", gw, dst)
		return
	}
	if !judgeReach || (gw.Is6() && gw.IsLinkLocalUnicast()) {
		return // IPv6 link-local next hops are on-link by definition
	}
	for _, pfx := range onLink {
		if pfx.Contains(gw) {
			return
		}
	}
	vs.add(p.key("gateway"), "%s is not reachable: no address on link %q has a prefix containing it", gw, r.Link)
}
