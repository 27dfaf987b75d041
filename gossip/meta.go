package gossip

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/hashicorp/memberlist"
)

// MetaMaxSize is the largest encoded Meta memberlist will carry: it is
// memberlist's own limit, and memberlist panics past it, so EncodeMeta
// refuses anything larger.
const MetaMaxSize = memberlist.MetaMaxSize

// metaFormat is the first byte of every encoded Meta. New fields are only
// ever appended (older decoders ignore trailing bytes), so the format byte
// changes only for an incompatible layout, which older nodes then refuse.
const metaFormat byte = 1

// Role is what a node does in the cluster. Only control-plane nodes are
// Raft voters; workers never are.
type Role string

// The roles a node may advertise.
const (
	RoleControlPlane Role = "controlplane"
	RoleWorker       Role = "worker"
)

// roleCodes maps roles to the single byte they occupy on the wire.
var roleCodes = map[Role]byte{RoleControlPlane: 1, RoleWorker: 2}

// Meta is what a node advertises about itself through gossip. Every field
// is a hint for other nodes (which API to forward to, which Raft address to
// add as a voter, which nodes already run which version); none of it is
// authoritative: the Raft store is.
type Meta struct {
	// Name is the member's gossip name. It is never transmitted (memberlist
	// carries the name already): DecodeMeta leaves it empty and Members
	// fills it in, and UpdateMeta ignores it.
	Name string
	// Role is the node's role; it must be RoleControlPlane or RoleWorker.
	Role Role
	// APIAddr is where the node serves the node API.
	APIAddr netip.AddrPort
	// RaftAddr is the node's Raft transport address; zero on workers.
	RaftAddr netip.AddrPort
	// Version is the running Cairn version.
	Version string
	// BootSlot is the A/B slot the node booted from ("A" or "B").
	BootSlot string
	// ConfigRevision is the cluster configuration revision the node has
	// applied, so a leader can see who lags behind.
	ConfigRevision uint64
	// Health is a short human summary of local health ("ok",
	// "degraded: etcd"); details live in the node's API.
	Health string
	// HasRaftState is true once the node holds Raft state on disk. Cluster
	// formation uses it so a node that has state never bootstraps again.
	HasRaftState bool
	// Leader is the node name this node believes leads Raft, or empty. It
	// helps a joiner find the leader; it may be stale.
	Leader string
	// LeaderTerm is the Raft term in which Leader leads, so that of several
	// control planes' hints the newest wins (a paused or partitioned old
	// leader keeps advertising itself in its old term).
	LeaderTerm uint64
	// StateID identifies the node's state directory: it is created with the
	// state, so a node whose disk was wiped comes back with a new one and is
	// a new Raft server (its Raft server ID is derived from it).
	StateID string
	// EtcdSettings is the etcd settings a control plane's member runs with
	// once it is healthy (a short hash of cluster.etcd.extraArgs), so the
	// Raft leader rolls a change of them out one member at a time; empty
	// on workers and before.
	EtcdSettings string
	// Etcd is a control plane's etcd member in a word or two ("voter",
	// "learner", or why not: "joining", "refused", ...), shown in Members;
	// empty on workers and where no etcd runs.
	Etcd string
	// Kubernetes is the node's Kubernetes components in a word or two
	// ("ready", or why not: "waiting-for-etcd", "unhealthy", "disabled"),
	// shown in Members; empty where none run.
	Kubernetes string
	// KubeSettings are the Kubernetes control-plane settings a control
	// plane's healthy components run with (config.KubeControlPlaneSettingsHash),
	// so the Raft leader rolls a change out one control plane at a time;
	// empty elsewhere and while they are not healthy.
	KubeSettings string
	// Kubelet is the node's kubelet in a word or two ("ready": running,
	// healthy and its Node Ready; or why not: "not-ready",
	// "importing-images", ...); empty where none runs (process mode).
	Kubelet string
	// KubeletSettings are the kubelet settings (config.KubeletSettingsHash)
	// a healthy kubelet runs with, for the leader's rollout of a change.
	KubeletSettings string
	// PodCIDR is the pod network Kubernetes allocated to the node; every
	// other node routes it to this node's address (node/machine/podroutes).
	PodCIDR string
	// BootTrial is true while the node runs its boot slot on trial (an
	// upgrade not confirmed yet).
	BootTrial bool
	// FallbackAt (Unix seconds, 0 for never) is when the node's boot stage
	// last abandoned a trial slot, and FallbackReason why (at most
	// MaxFallbackReason bytes): the upgrade leader reads a fallback here.
	FallbackAt     int64
	FallbackReason string
}

// MaxFallbackReason bounds Meta.FallbackReason; EncodeMeta cuts a longer
// one.
const MaxFallbackReason = 96

// flag bits in the second byte of an encoded Meta.
const (
	flagHasRaftState byte = 1 << 0
	flagBootTrial    byte = 1 << 1
)

// EncodeMeta encodes m compactly: a format byte, a role byte, a flags byte,
// then each field length-prefixed (addresses in their 6- or 18-byte binary
// form). It returns ErrInvalidMeta for an unknown role and ErrMetaTooLarge
// past MetaMaxSize.
func EncodeMeta(m Meta) ([]byte, error) {
	role, ok := roleCodes[m.Role]
	if !ok {
		return nil, fmt.Errorf("%w: unknown role %q", ErrInvalidMeta, m.Role)
	}
	var flags byte
	if m.HasRaftState {
		flags |= flagHasRaftState
	}
	if m.BootTrial {
		flags |= flagBootTrial
	}
	buf := make([]byte, 0, 96)
	buf = append(buf, metaFormat, role, flags)
	buf = appendAddrPort(buf, m.APIAddr)
	buf = appendAddrPort(buf, m.RaftAddr)
	buf = appendString(buf, m.Version)
	buf = appendString(buf, m.BootSlot)
	buf = binary.AppendUvarint(buf, m.ConfigRevision)
	buf = appendString(buf, m.Health)
	buf = appendString(buf, m.Leader)
	// Appended fields: decoders of older versions stop before them.
	buf = binary.AppendUvarint(buf, m.LeaderTerm)
	buf = appendString(buf, m.StateID)
	buf = appendString(buf, m.EtcdSettings)
	buf = appendString(buf, m.Etcd)
	buf = appendString(buf, m.Kubernetes)
	buf = appendString(buf, m.KubeSettings)
	buf = appendString(buf, m.Kubelet)
	buf = appendString(buf, m.KubeletSettings)
	buf = appendString(buf, m.PodCIDR)
	buf = binary.AppendUvarint(buf, uint64(max(m.FallbackAt, 0)))
	reason := m.FallbackReason
	if len(reason) > MaxFallbackReason {
		reason = reason[:MaxFallbackReason]
	}
	buf = appendString(buf, reason)
	if len(buf) > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(buf), MetaMaxSize)
	}
	return buf, nil
}

// DecodeMeta decodes what EncodeMeta produced. Bytes after the last known
// field are ignored so newer nodes can append fields; an unknown format or
// role byte, or truncated data, is ErrInvalidMeta.
func DecodeMeta(b []byte) (Meta, error) {
	d := metaDecoder{buf: b}
	format, role, flags := d.byte(), d.byte(), d.byte()
	if d.err == nil && format != metaFormat {
		return Meta{}, fmt.Errorf("%w: unknown format %d", ErrInvalidMeta, format)
	}
	var m Meta
	for r, code := range roleCodes {
		if code == role {
			m.Role = r
		}
	}
	if d.err == nil && m.Role == "" {
		return Meta{}, fmt.Errorf("%w: unknown role code %d", ErrInvalidMeta, role)
	}
	m.HasRaftState = flags&flagHasRaftState != 0
	m.BootTrial = flags&flagBootTrial != 0
	m.APIAddr = d.addrPort()
	m.RaftAddr = d.addrPort()
	m.Version = d.string()
	m.BootSlot = d.string()
	m.ConfigRevision = d.uvarint()
	m.Health = d.string()
	m.Leader = d.string()
	if d.more() {
		m.LeaderTerm = d.uvarint()
		m.StateID = d.string()
	}
	if d.more() {
		m.EtcdSettings = d.string()
	}
	if d.more() {
		m.Etcd = d.string()
	}
	if d.more() {
		m.Kubernetes = d.string()
	}
	if d.more() {
		m.KubeSettings = d.string()
	}
	if d.more() {
		m.Kubelet = d.string()
		m.KubeletSettings = d.string()
		m.PodCIDR = d.string()
	}
	if d.more() {
		m.FallbackAt = int64(d.uvarint())
		m.FallbackReason = d.string()
	}
	if d.err != nil {
		return Meta{}, d.err
	}
	return m, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendAddrPort(buf []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(buf, 0)
	}
	// MarshalBinary never fails for netip.AddrPort.
	b, _ := ap.MarshalBinary()
	buf = append(buf, byte(len(b)))
	return append(buf, b...)
}

// metaDecoder reads fields in order and remembers the first error, so
// DecodeMeta reads like EncodeMeta.
type metaDecoder struct {
	buf []byte
	err error
}

func (d *metaDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", ErrInvalidMeta, what)
	}
	d.buf = nil
}

// more reports whether fields follow: metadata from an older encoder ends
// before the fields appended since.
func (d *metaDecoder) more() bool { return d.err == nil && len(d.buf) > 0 }

func (d *metaDecoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail("header")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *metaDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *metaDecoder) bytes(n uint64, what string) []byte {
	if uint64(len(d.buf)) < n {
		d.fail(what)
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *metaDecoder) string() string {
	n := d.uvarint()
	return string(d.bytes(n, "string"))
}

func (d *metaDecoder) addrPort() netip.AddrPort {
	n := uint64(d.byte())
	if n == 0 {
		return netip.AddrPort{}
	}
	var ap netip.AddrPort
	if err := ap.UnmarshalBinary(d.bytes(n, "address")); err != nil && d.err == nil {
		d.err = fmt.Errorf("%w: address: %w", ErrInvalidMeta, err)
	}
	if !ap.IsValid() && d.err == nil {
		// A port with no IP (netip takes two bytes as one): EncodeMeta
		// writes an address it has as a zero length, never this
		// (found by FuzzDecodeMeta).
		d.err = fmt.Errorf("%w: address: a port without an IP", ErrInvalidMeta)
	}
	return ap
}
