package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"
)

// KeySize is the length of a gossip key: 32 bytes selects AES-256-GCM.
const KeySize = 32

// labelPrefix namespaces the memberlist label; the cluster ID follows it.
const labelPrefix = "cairn/"

// maxLabelSize is memberlist's limit on a label (memberlist.LabelMaxSize).
const maxLabelSize = 255

// Config configures one gossip Node. Start from DefaultConfig or TestConfig,
// which hold every timing value, and fill in the identity fields.
type Config struct {
	// Name is this node's unique name in the cluster. Two live nodes with
	// one name are a conflict, which the newcomer loses.
	Name string
	// ClusterID binds gossip to one cluster: it becomes the memberlist
	// label, checked on every packet and stream and authenticated by the
	// encryption, so two clusters on one network never merge.
	ClusterID string
	// Key is the 32-byte AES-256-GCM key, from the cluster secrets. It
	// becomes the primary key of this node's keyring.
	Key []byte
	// Meta is what the node first advertises; see UpdateMeta.
	Meta Meta
	// Logger receives the node's logs and memberlist's own, tagged with
	// component=gossip. Nil discards them.
	Logger *slog.Logger

	// BindAddr and BindPort are where the node listens (TCP and UDP). Port
	// 0 picks a free port, which Node.Addr then reports.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort, when set, are what other nodes
	// dial instead of the bound address (NAT, a 0.0.0.0 bind).
	AdvertiseAddr string
	AdvertisePort int

	// ProbeInterval is how often a node probes one random peer.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack (about the p99 RTT).
	ProbeTimeout time.Duration
	// IndirectChecks is how many peers are asked to probe a peer that did
	// not answer directly, before it is suspected.
	IndirectChecks int
	// SuspicionMult scales how long a peer stays suspect before it is
	// declared dead: SuspicionMult × max(1, log10(N)) × ProbeInterval.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds suspicion when no other peer confirms
	// it: up to this many times the base suspicion timeout.
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often queued broadcasts are sent to
	// GossipNodes random peers.
	GossipInterval time.Duration
	GossipNodes    int
	// RetransmitMult sets how many times a broadcast is retransmitted:
	// RetransmitMult × ceil(log10(N+1)).
	RetransmitMult int
	// PushPullInterval is how often a full state sync with one random peer
	// runs (memberlist stretches it above 32 nodes).
	PushPullInterval time.Duration
	// StreamTimeout bounds dialing and each read or write of a TCP stream
	// (joins, push/pull, TCP fallback pings).
	StreamTimeout time.Duration
	// GossipToTheDeadTime is how long gossip still reaches a dead peer so
	// it can refute; memberlist forgets dead peers after it.
	GossipToTheDeadTime time.Duration
	// DeadNodeReclaimTime is how long after its death a name may come back
	// from a different address without being a conflict.
	DeadNodeReclaimTime time.Duration
	// Compress compresses gossip messages (LZW). It trades CPU, which
	// building a fresh compressor per packet costs plenty of, for bandwidth.
	Compress bool

	// BroadcastTimeout bounds UpdateMeta and Leave waiting for their
	// broadcast to go out when ctx has no earlier deadline.
	BroadcastTimeout time.Duration
	// JoinBackoffMin and JoinBackoffMax bound the exponential backoff
	// between join attempts.
	JoinBackoffMin time.Duration
	JoinBackoffMax time.Duration
	// DeadRetention is how long dead and left members stay in Members.
	// It must exceed the longest grace period a consumer applies (the
	// Raft leader's dead-voter removal), or the evidence disappears first.
	DeadRetention time.Duration
	// ReconnectInterval is how often the formation agent calls Reconnect:
	// the longest a restarted member can stay unseen, or seen with its
	// previous life's metadata, once it is up.
	ReconnectInterval time.Duration
}

// Validate reports every problem with c, each wrapping ErrInvalidConfig
// (or ErrInvalidKey, ErrInvalidMeta, ErrMetaTooLarge), joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if err := validateName(c.Name); err != nil {
		bad("name: %v", err)
	}
	switch {
	case c.ClusterID == "":
		bad("cluster ID is empty")
	case len(labelPrefix+c.ClusterID) > maxLabelSize:
		bad("cluster ID longer than %d bytes", maxLabelSize-len(labelPrefix))
	}
	if len(c.Key) != KeySize {
		errs = append(errs, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(c.Key), KeySize))
	}
	if _, err := EncodeMeta(c.Meta); err != nil {
		errs = append(errs, fmt.Errorf("meta: %w", err))
	}
	if _, err := netip.ParseAddr(c.BindAddr); err != nil {
		bad("bind address: %v", err)
	}
	if c.BindPort < 0 || c.BindPort > math.MaxUint16 {
		bad("bind port %d out of range", c.BindPort)
	}
	if c.AdvertiseAddr != "" {
		if _, err := netip.ParseAddr(c.AdvertiseAddr); err != nil {
			bad("advertise address: %v", err)
		}
	}
	for name, d := range map[string]time.Duration{
		"ProbeInterval": c.ProbeInterval, "ProbeTimeout": c.ProbeTimeout,
		"GossipInterval": c.GossipInterval, "PushPullInterval": c.PushPullInterval,
		"StreamTimeout": c.StreamTimeout, "GossipToTheDeadTime": c.GossipToTheDeadTime,
		"BroadcastTimeout": c.BroadcastTimeout, "JoinBackoffMin": c.JoinBackoffMin,
		"JoinBackoffMax": c.JoinBackoffMax, "DeadRetention": c.DeadRetention,
		"ReconnectInterval": c.ReconnectInterval,
	} {
		if d <= 0 {
			bad("%s must be positive, got %v", name, d)
		}
	}
	for name, n := range map[string]int{
		"IndirectChecks": c.IndirectChecks, "SuspicionMult": c.SuspicionMult,
		"SuspicionMaxTimeoutMult": c.SuspicionMaxTimeoutMult,
		"GossipNodes":             c.GossipNodes, "RetransmitMult": c.RetransmitMult,
	} {
		if n <= 0 {
			bad("%s must be positive, got %d", name, n)
		}
	}
	if c.ProbeTimeout > c.ProbeInterval {
		bad("ProbeTimeout %v exceeds ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.JoinBackoffMin > c.JoinBackoffMax {
		bad("JoinBackoffMin %v exceeds JoinBackoffMax %v", c.JoinBackoffMin, c.JoinBackoffMax)
	}
	return errors.Join(errs...)
}

// validateName accepts names that are safe in logs, metrics and DNS:
// 1 to 63 ASCII letters, digits, '-', '_' and '.'.
func validateName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("length %d, want 1 to 63", len(name))
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("character %q not allowed", r)
		}
	}
	return nil
}

// SuspicionTimeout is how long a peer of a clusterSize-node cluster stays
// suspect before it is declared dead when enough other peers confirm the
// suspicion (memberlist's suspicionTimeout formula).
func (c Config) SuspicionTimeout(clusterSize int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(clusterSize))))
	return time.Duration(float64(c.SuspicionMult) * scale * float64(c.ProbeInterval))
}

// FailureDetectionTime is the configured bound on how long a crashed peer
// of a clusterSize-node cluster stays alive in other members' views: two
// probe intervals until some peer probes it (each peer probes one random
// peer per interval, so a given peer is probed about once per interval),
// one for that probe and its indirect checks to fail, the unconfirmed
// (maximum) suspicion timeout, and one more probe interval for the dead
// message to spread. Detection is usually quicker, since confirmations from
// other peers shorten suspicion towards SuspicionTimeout.
func (c Config) FailureDetectionTime(clusterSize int) time.Duration {
	suspicion := time.Duration(c.SuspicionMaxTimeoutMult) * c.SuspicionTimeout(clusterSize)
	return 4*c.ProbeInterval + suspicion
}

// maxSuspicion is the longest memberlist keeps a member of a
// clusterSize-node cluster suspect, plus one probe interval for the
// verdict to arrive.
func (c Config) maxSuspicion(clusterSize int) time.Duration {
	return time.Duration(c.SuspicionMaxTimeoutMult)*c.SuspicionTimeout(clusterSize) + c.ProbeInterval
}

// label is the memberlist label for c's cluster.
func (c Config) label() string {
	return labelPrefix + c.ClusterID
}
