package gossip

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
)

// Reconnect contacts up to limit of the given peers ("host:port") and of the
// members this node holds dead (not those that left), skipping every address it holds
// alive and its own, with one push/pull exchange each (Serf's reconnect;
// memberlist never contacts a member it declared dead). It returns how many
// answered; unreachable peers are expected and not an error.
//
// Two situations need it. A node that restarts gets a low incarnation
// number, so the members that remember its previous life ignore its alive
// messages — keeping its old metadata, or holding it dead — until it learns
// of that life and refutes it with a higher incarnation, which only a
// push/pull with such a member tells it. And a restarted node whose seeds
// are itself, or are all restarted too, would otherwise wait for a member
// to contact it, which none does while it is dead in their views.
//
// After Leave it contacts nobody: a push/pull would undo the leave.
func (n *Node) Reconnect(peers []string, limit int) int {
	if n.left.Load() {
		return 0
	}
	targets := n.reconnectTargets(peers)
	if len(targets) == 0 || limit <= 0 {
		return 0
	}
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	targets = targets[:min(limit, len(targets))]
	n.mu.RLock()
	usable := n.usableLocked() == nil
	n.mu.RUnlock()
	if !usable {
		return 0
	}
	// Not under n.mu: a dial to a host that is gone can take the stream
	// timeout, and Close must not wait for it (memberlist refuses a Join
	// after its Shutdown by itself).
	contacted, err := n.ml.Join(targets)
	if err != nil && contacted == 0 {
		n.log.Debug("reconnect found no peer", "peers", targets, "err", err)
	}
	return contacted
}

// reconnectTargets lists the addresses Reconnect may contact.
func (n *Node) reconnectTargets(peers []string) []string {
	self, _ := netip.ParseAddrPort(n.Addr())
	alive := map[netip.AddrPort]bool{self: true}
	var down []netip.AddrPort
	for _, m := range n.Members() {
		switch m.State {
		case StateAlive, StateSuspect:
			alive[m.Addr] = true
		case StateDead: // one that left said goodbye: not contacted again
			down = append(down, m.Addr)
		}
	}
	seen := map[netip.AddrPort]bool{}
	var out []string
	add := func(a netip.AddrPort) {
		if a.IsValid() && !alive[a] && !seen[a] {
			seen[a] = true
			out = append(out, a.String())
		}
	}
	for _, p := range peers {
		add(peerAddr(p, self.Port()))
	}
	for _, a := range down {
		add(a)
	}
	return out
}

// peerAddr parses "host:port" or "host" (with the default port); host must
// be an IP, since names would need resolving on every round.
func peerAddr(p string, defaultPort uint16) netip.AddrPort {
	host, portStr, err := net.SplitHostPort(p)
	port := int(defaultPort)
	if err != nil {
		host = p
	} else if port, err = strconv.Atoi(portStr); err != nil || port < 0 || port > 65535 {
		return netip.AddrPort{}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port))
}
