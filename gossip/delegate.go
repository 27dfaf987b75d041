package gossip

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
)

// msgLeaveIntent tags the one user message this package gossips: "NAME is
// leaving". Memberlist's own leave looks exactly like a death to the event
// delegate, so the intent is what lets members tell StateLeft from
// StateDead (the same trick Serf uses).
const msgLeaveIntent byte = 1

// delegate implements memberlist's delegate interfaces for a Node. Most of
// its methods run under memberlist's node lock, so they only touch the
// table, the status and the hint channel, never memberlist itself.
type delegate struct {
	n *Node
}

var (
	_ memberlist.Delegate         = delegate{}
	_ memberlist.EventDelegate    = delegate{}
	_ memberlist.ConflictDelegate = delegate{}
	_ memberlist.AliveDelegate    = delegate{}
	_ memberlist.PingDelegate     = delegate{}
)

// NodeMeta returns the encoded local metadata. UpdateMeta and New have
// already checked it against the limit.
func (d delegate) NodeMeta(int) []byte {
	d.n.metaMu.Lock()
	defer d.n.metaMu.Unlock()
	return d.n.metaBytes
}

// NotifyMsg handles leave intents and relays each one the first time it is
// seen, so it spreads epidemically like memberlist's own broadcasts.
func (d delegate) NotifyMsg(b []byte) {
	if len(b) < 2 || b[0] != msgLeaveIntent {
		return
	}
	name := string(b[1:])
	if name == d.n.cfg.Name || !d.n.table.leaveIntent(name) {
		return
	}
	d.n.log.Debug("member announced leave", "member", name)
	d.n.broadcasts.QueueBroadcast(newLeaveIntent(name, nil))
	d.n.hint()
}

// GetBroadcasts hands memberlist the queued leave intents to piggyback.
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.broadcasts.GetBroadcasts(overhead, limit)
}

// LocalState sends nothing: push/pull carries memberlist's state only.
func (d delegate) LocalState(bool) []byte { return nil }

// MergeRemoteState has nothing to merge; see LocalState.
func (d delegate) MergeRemoteState([]byte, bool) {}

// NotifyJoin records a member that became alive, including this node.
func (d delegate) NotifyJoin(node *memberlist.Node) {
	d.record(node)
	if node.Name != d.n.cfg.Name {
		d.n.status.update(func(s *Status) { s.Joined = true })
		d.n.log.Debug("member joined", "member", node.Name, "addr", addrPortOf(node))
	}
	d.n.hint()
}

// NotifyUpdate records a member's new metadata.
func (d delegate) NotifyUpdate(node *memberlist.Node) {
	d.record(node)
	d.n.log.Debug("member updated", "member", node.Name)
	d.n.hint()
}

// NotifyLeave records a member that memberlist declared dead or left.
func (d delegate) NotifyLeave(node *memberlist.Node) {
	d.n.table.down(node.Name)
	m, _ := d.n.table.get(node.Name)
	d.n.log.Info("member down", "member", node.Name, "state", m.State)
	d.n.hint()
}

func (d delegate) record(node *memberlist.Node) {
	meta, err := DecodeMeta(node.Meta)
	if err != nil {
		// NotifyAlive refuses such members, so only a node's own
		// bootstrap can get here; keep the member, without metadata.
		d.n.log.Warn("member metadata undecodable", "member", node.Name, "err", err)
	}
	d.n.table.alive(node.Name, addrPortOf(node), meta)
}

// NotifyConflict is called when a live member's name is claimed from
// another address. Memberlist keeps the existing member and drops the
// claim; this records and logs it.
func (d delegate) NotifyConflict(existing, other *memberlist.Node) {
	c := Conflict{
		Name:     existing.Name,
		Existing: addrPortOf(existing),
		Other:    addrPortOf(other),
		Local:    existing.Name == d.n.cfg.Name,
		At:       time.Now(),
	}
	d.n.status.conflict(c)
	d.n.log.Error("name conflict refused", "member", c.Name,
		"existing", c.Existing, "claimant", c.Other, "local", c.Local)
	d.n.hint()
}

// NotifyAlive refuses a peer whose metadata does not decode, before
// memberlist adds it, so it never appears half-known.
func (d delegate) NotifyAlive(peer *memberlist.Node) error {
	if _, err := DecodeMeta(peer.Meta); err != nil {
		d.n.status.update(func(s *Status) { s.InvalidMeta++ })
		d.n.log.Warn("member refused", "member", peer.Name, "addr", addrPortOf(peer), "err", err)
		return fmt.Errorf("member %s: %w", peer.Name, err)
	}
	return nil
}

// AckPayload adds nothing to acks.
func (d delegate) AckPayload() []byte { return nil }

// NotifyPingComplete clears a suspicion this node raised, once the member
// answers a probe again.
func (d delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	if d.n.table.acked(other.Name) {
		d.n.log.Debug("suspect member answered", "member", other.Name)
		d.n.hint()
	}
}

// addrPortOf returns a memberlist node's address, IPv4 unmapped.
func addrPortOf(node *memberlist.Node) netip.AddrPort {
	addr, _ := netip.AddrFromSlice(node.Addr)
	return netip.AddrPortFrom(addr.Unmap(), node.Port)
}

// leaveIntent is a queued "NAME is leaving" broadcast.
type leaveIntent struct {
	name string
	msg  []byte
	done chan struct{}
}

var _ memberlist.NamedBroadcast = (*leaveIntent)(nil)

// newLeaveIntent returns a broadcast for name; done, if not nil, is closed
// once memberlist stops retransmitting it.
func newLeaveIntent(name string, done chan struct{}) *leaveIntent {
	msg := append([]byte{msgLeaveIntent}, name...)
	return &leaveIntent{name: name, msg: msg, done: done}
}

// Name lets the queue replace an older intent for the same node.
func (b *leaveIntent) Name() string { return b.name }

// Invalidates reports whether other is an older intent for the same node
// (memberlist's queue uses Name instead today).
func (b *leaveIntent) Invalidates(other memberlist.Broadcast) bool {
	nb, ok := other.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}

// Message returns the encoded intent.
func (b *leaveIntent) Message() []byte { return b.msg }

// Finished signals the waiting Leave, if any.
func (b *leaveIntent) Finished() {
	if b.done != nil {
		close(b.done)
	}
}
