package formation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/backoff"
)

// Profile is one consistent set of timings for gossip, Raft and the
// autopilot. DefaultProfile is for real clusters, SlowProfile for
// emulated machines, TestProfile for tests on loopback. They are the only
// places these numbers are set; ProfileNamed maps cairnd's --timings (and
// the kernel's cairn.timings=) to them.
type Profile struct {
	Gossip    gossip.Config // timing fields only; identity is filled by Start
	Raft      consensus.Timing
	Autopilot AutopilotConfig
}

// DefaultProfile: gossip tuned for a LAN, Raft elections in about a second,
// promotion after 10 s of health, dead voters removed after 30 s.
func DefaultProfile() Profile {
	return Profile{
		Gossip:    gossip.DefaultConfig(),
		Raft:      consensus.DefaultTiming(),
		Autopilot: AutopilotConfig{Stabilization: 10 * time.Second, DeadGrace: 30 * time.Second, Interval: time.Second},
	}
}

// SlowProfile is for machines far slower than their clocks: VMs emulated
// without KVM (QEMU's TCG runs code 10–50× slower, and several VMs share
// the host's cores) or hosts loaded past their cores. Raft's timeouts are
// three times the default's, as Consul's raft_multiplier stretches them,
// so a VM's vCPU stalled for a second does not depose a healthy leader;
// gossip probes wait twice as long; the autopilot is the default's.
func SlowProfile() Profile {
	p := DefaultProfile()
	p.Gossip = gossip.SlowConfig()
	p.Raft = consensus.DefaultTiming().Scaled(3)
	return p
}

// The names ProfileNamed takes.
const (
	ProfileDefault = "default"
	ProfileSlow    = "slow"
	ProfileFast    = "fast"
)

// ProfileNames lists ProfileNamed's names, the default first.
var ProfileNames = []string{ProfileDefault, ProfileSlow, ProfileFast}

// ProfileNamed returns the profile of a name in ProfileNames.
func ProfileNamed(name string) (Profile, error) {
	switch name {
	case ProfileDefault:
		return DefaultProfile(), nil
	case ProfileSlow:
		return SlowProfile(), nil
	case ProfileFast:
		return TestProfile(), nil
	}
	return Profile{}, fmt.Errorf("timings %q: not one of default, slow (emulated or overloaded machines), fast (loopback tests)", name)
}

// TestProfile shrinks every timeout for loopback tests.
func TestProfile() Profile {
	return Profile{
		Gossip:    gossip.TestConfig(),
		Raft:      consensus.FastTiming(),
		Autopilot: AutopilotConfig{Stabilization: 500 * time.Millisecond, DeadGrace: 2 * time.Second, Interval: 100 * time.Millisecond},
	}
}

// Config describes one node for the agent.
type Config struct {
	Name string
	Role gossip.Role
	// DataDir holds the Raft data (control-plane nodes only).
	DataDir string
	// StateID identifies this node's state (see RaftID); empty for state
	// created before state IDs existed.
	StateID string
	// GossipAddr and RaftAddr are host:port; RaftAddr is ignored on workers.
	GossipAddr string
	RaftAddr   string
	// APIAddr is advertised in gossip metadata.
	APIAddr   string
	ClusterID string
	// GossipKey is the primary gossip key; ExtraGossipKeys are also
	// accepted (a rotation in progress, restored after a restart).
	GossipKey       []byte
	ExtraGossipKeys [][]byte
	Seeds           []string
	// Peers are every other node's gossip address known from the cluster
	// config; the agent reconnects to those it does not see alive (see
	// gossip.Node.Reconnect). Seeds are reconnected to as well.
	Peers []string
	// Expect is how many control-plane nodes bootstrap Raft together.
	Expect int
	// Candidates optionally names the bootstrap servers (the first Expect
	// control-plane nodes of the cluster config), making the bootstrap
	// list independent of what each node happens to see.
	Candidates []string
	Version    string
	Profile    Profile
	// ConfiguredNodes, when set, returns the node names the stored cluster
	// config lists (ok=false while unknown); the leader's autopilot removes
	// servers whose node it no longer lists and adds only listed ones.
	ConfiguredNodes func(ctx context.Context, s *consensus.Store) (names map[string]bool, ok bool)
	// RaftTLS, when set, makes the Raft transport mutual TLS.
	RaftTLS *consensus.TLSConfig
	Logger  *slog.Logger

	// BootSlot is the A/B slot the node booted from, advertised in gossip.
	BootSlot string
}

// Agent runs gossip, and on control-plane nodes the Raft store, bootstrap
// and the leader's autopilot: a node's cluster membership.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	gossip *gossipRef
	// Store is the Raft store; nil on workers.
	Store *consensus.Store

	configRevision atomic.Uint64
	etcdSettings   atomic.Pointer[etcdMeta]
	kubernetes     atomic.Pointer[kubeMeta]
	kubelet        atomic.Pointer[kubeletMeta]
	boot           atomic.Pointer[BootMeta]
	metaKick       chan struct{} // publish metadata now

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // bootstrap failure, if any

	degraded []string // what Degrade recorded, for health; guarded by mu
	failing  []string // controllers and sources failing now (SetFailing); guarded by mu
}

// SetConfigRevision records the cluster config revision this node has
// applied; it reaches every peer through gossip metadata.
func (a *Agent) SetConfigRevision(rev uint64) {
	a.configRevision.Store(rev)
	a.kickMeta()
}

// etcdMeta is what gossip says of this node's etcd member.
type etcdMeta struct{ state, settings string }

// SetEtcd records this control plane's etcd member for gossip: its state
// in a word or two ("voter", "learner", or why not) and the settings it
// runs with (empty: not known to run any); published at once when changed.
func (a *Agent) SetEtcd(state, settings string) {
	m := etcdMeta{state: state, settings: settings}
	if old := a.etcdSettings.Swap(&m); old == nil || *old != m {
		a.kickMeta()
	}
}

// kubeMeta is what gossip says of this node's Kubernetes components.
type kubeMeta struct{ state, settings string }

// SetKubernetes records this node's Kubernetes components for gossip: their
// state in a word or two ("ready", or why not) and the control-plane
// settings the healthy ones run with (empty: none known); published at
// once when changed.
func (a *Agent) SetKubernetes(state, settings string) {
	m := kubeMeta{state: state, settings: settings}
	if old := a.kubernetes.Swap(&m); old == nil || *old != m {
		a.kickMeta()
	}
}

// kubeletMeta is what gossip says of this node's kubelet.
type kubeletMeta struct{ state, settings, podCIDR string }

// SetKubelet records this node's kubelet for gossip: its state in a word
// or two ("ready", or why not), the kubelet settings a healthy kubelet
// runs with (empty: none known), and the node's pod CIDR (empty until
// allocated); published at once when changed.
func (a *Agent) SetKubelet(state, settings, podCIDR string) {
	m := kubeletMeta{state: state, settings: settings, podCIDR: podCIDR}
	if old := a.kubelet.Swap(&m); old == nil || *old != m {
		a.kickMeta()
	}
}

// BootMeta is what gossip says of this node's boot slots beyond the slot
// itself: whether it runs it on trial, and the boot stage's last fallback
// (FallbackAt zero: none), which the upgrade leader reads.
type BootMeta struct {
	Trial          bool
	FallbackAt     time.Time
	FallbackReason string
}

// SetBoot records this node's boot slot state for gossip; published at
// once when changed.
func (a *Agent) SetBoot(m BootMeta) {
	if old := a.boot.Swap(&m); old == nil || *old != m {
		a.kickMeta()
	}
}

// kickMeta makes publishMeta publish now.
func (a *Agent) kickMeta() {
	select {
	case a.metaKick <- struct{}{}:
	default:
	}
}

// Config returns the agent's configuration.
func (a *Agent) Config() Config { return a.cfg }

// Start joins the cluster: it starts gossip (joining the seeds in the
// background, with retries), opens the Raft store on control-plane nodes,
// bootstraps it when formation says so, and registers the autopilot as a
// leader hook.
func Start(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, log: log.With("component", "formation"), metaKick: make(chan struct{}, 1)}
	if cfg.Role == gossip.RoleControlPlane {
		s, err := consensus.Open(consensus.Config{
			NodeID: RaftID(cfg.Name, cfg.StateID), DataDir: cfg.DataDir, BindAddr: cfg.RaftAddr,
			Timing: cfg.Profile.Raft, TLS: cfg.RaftTLS, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("open raft store: %w", err)
		}
		a.Store = s
	}
	g, err := a.newGossip()
	if err != nil {
		_ = a.closeStore()
		return nil, err
	}
	a.gossip = newGossipRef(g)

	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(2)
	go a.join(ctx)
	go a.publishMeta(ctx)
	if a.Store != nil {
		ap := newAutopilot(cfg.Profile.Autopilot, log, a.Store, a.gossip)
		if cfg.ConfiguredNodes != nil {
			store := a.Store
			ap.configured = func(ctx context.Context) (map[string]bool, bool) { return cfg.ConfiguredNodes(ctx, store) }
		}
		a.Store.AddLeaderFunc(ap.run)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			err := runBootstrap(ctx, a.log, cfg.Name, a.gossip, a.Store, cfg.Expect, cfg.Candidates)
			if err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("bootstrap failed", "error", err)
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}()
	}
	return a, nil
}

func (c *Config) validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: name is empty", ErrInvalidConfig)
	case c.Role != gossip.RoleControlPlane && c.Role != gossip.RoleWorker:
		return fmt.Errorf("%w: role %q is neither %s nor %s", ErrInvalidConfig, c.Role, gossip.RoleControlPlane, gossip.RoleWorker)
	case c.Role == gossip.RoleControlPlane && (c.RaftAddr == "" || c.DataDir == ""):
		return fmt.Errorf("%w: a control-plane node needs raftAddr and dataDir", ErrInvalidConfig)
	case c.Role == gossip.RoleControlPlane && c.Expect < 1:
		return fmt.Errorf("%w: expect must be at least 1", ErrInvalidConfig)
	}
	return nil
}

// newGossip starts a gossip member with the primary key and every extra key.
func (a *Agent) newGossip() (*gossip.Node, error) {
	g, err := gossip.New(a.gossipConfig())
	if err != nil {
		return nil, err
	}
	for _, k := range a.cfg.ExtraGossipKeys {
		if err := g.InstallKey(k); err != nil {
			_ = g.Close()
			return nil, fmt.Errorf("install gossip key %s: %w", gossip.KeyID(k), err)
		}
	}
	return g, nil
}

func (a *Agent) gossipConfig() gossip.Config {
	gc := a.cfg.Profile.Gossip
	gc.Name, gc.ClusterID, gc.Key, gc.Logger = a.cfg.Name, a.cfg.ClusterID, a.cfg.GossipKey, a.cfg.Logger
	if host, port, err := net.SplitHostPort(a.cfg.GossipAddr); err == nil {
		gc.BindAddr = host
		gc.BindPort, _ = strconv.Atoi(port)
	}
	gc.Meta = a.meta()
	return gc
}

// meta is this node's gossip metadata, refreshed from the Raft store.
func (a *Agent) meta() gossip.Meta {
	m := gossip.Meta{
		Role: a.cfg.Role, Version: a.cfg.Version, BootSlot: a.cfg.BootSlot, Health: a.health(),
		ConfigRevision: a.configRevision.Load(), StateID: a.cfg.StateID,
	}
	if e := a.etcdSettings.Load(); e != nil {
		m.Etcd, m.EtcdSettings = e.state, e.settings
	}
	if k := a.kubernetes.Load(); k != nil {
		m.Kubernetes, m.KubeSettings = k.state, k.settings
	}
	if k := a.kubelet.Load(); k != nil {
		m.Kubelet, m.KubeletSettings, m.PodCIDR = k.state, k.settings, k.podCIDR
	}
	if b := a.boot.Load(); b != nil {
		m.BootTrial, m.FallbackReason = b.Trial, b.FallbackReason
		if !b.FallbackAt.IsZero() {
			m.FallbackAt = b.FallbackAt.Unix()
		}
	}
	m.APIAddr, _ = netip.ParseAddrPort(a.cfg.APIAddr)
	if a.Store != nil {
		m.RaftAddr, _ = netip.ParseAddrPort(a.cfg.RaftAddr)
		m.HasRaftState, _ = a.Store.HasState()
		if st, err := a.Store.Status(); err == nil && st.LeaderID != "" {
			m.Leader, m.LeaderTerm = NodeName(st.LeaderID), st.Term
		}
	}
	return m
}

// Gossip returns the node's current gossip member.
func (a *Agent) Gossip() *gossip.Node { return a.gossip.current() }

// Members returns the current gossip member's view of the cluster (the
// member is replaced after a lost name conflict, so holding a *gossip.Node
// could mean reading a stopped one).
func (a *Agent) Members() []gossip.Member { return a.gossip.current().Members() }

// MembershipHints returns a channel that receives a value after the
// gossip view changes (a join, a death, a metadata update), several changes
// possibly as one, and the function that ends the subscription: a wake-up
// for loops that reconcile from Members, such as the upgrade coordinator.
func (a *Agent) MembershipHints() (<-chan struct{}, func()) { return a.gossip.subscribe() }

// Member returns one member of the current gossip view.
func (a *Agent) Member(name string) (gossip.Member, bool) { return a.gossip.current().Member(name) }

// join joins the seeds. A name conflict usually means this node restarted
// at a new address before the cluster noticed the old incarnation died:
// gossip refuses it (and stops) until the old entry is dead and reclaimable,
// so the agent starts a fresh gossip member and tries again after a pause.
// A genuine duplicate name keeps being refused, loudly, every round.
func (a *Agent) join(ctx context.Context) {
	defer a.wg.Done()
	pause := max(a.cfg.Profile.Gossip.DeadNodeReclaimTime, time.Second)
	first := true
	attempt := func(ctx context.Context) error {
		if !first {
			g, err := a.newGossip()
			if err != nil {
				return fmt.Errorf("restart gossip: %w: %w", backoff.ErrPermanent, err)
			}
			a.gossip.swap(g)
		}
		first = false
		err := a.gossip.current().Join(ctx, a.cfg.Seeds)
		if err == nil || ctx.Err() != nil || errors.Is(err, gossip.ErrNameConflict) {
			return err
		}
		return fmt.Errorf("%w: %w", backoff.ErrPermanent, err)
	}
	err := backoff.Retry(ctx, backoff.Backoff{Initial: pause, Max: pause}, attempt, func(error, time.Duration) {
		a.log.Warn("gossip name held by a live member; retrying", "name", a.cfg.Name, "after", pause)
	})
	switch {
	case ctx.Err() != nil:
	case err == nil:
		a.reconnect(ctx)
	default:
		a.log.Error("gossip join failed", "error", err)
	}
}

// reconnect contacts, once joined and then every ReconnectInterval, the
// configured peers and the dead members this node does not see alive, a
// few at a time: a restarted node learns its previous incarnation from
// them at once and refutes it, and a node dead in the others' views is
// found again even if no seed is left to join (gossip.Node.Reconnect).
func (a *Agent) reconnect(ctx context.Context) {
	const perRound = 3
	peers := append(append([]string(nil), a.cfg.Seeds...), a.cfg.Peers...)
	tick := time.NewTicker(a.cfg.Profile.Gossip.ReconnectInterval)
	defer tick.Stop()
	for {
		a.gossip.current().Reconnect(peers, perRound)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// publishMeta keeps the Raft hints in gossip metadata current (has state,
// who leads), so formation on other nodes never bootstraps a second cluster.
func (a *Agent) publishMeta(ctx context.Context) {
	defer a.wg.Done()
	tick := time.NewTicker(a.cfg.Profile.Gossip.ProbeInterval / 2)
	defer tick.Stop()
	var storeDone <-chan struct{} // a stopped store changes health at once
	if a.Store != nil {
		storeDone = a.Store.Done()
	}
	last := a.meta()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-a.metaKick:
		case <-storeDone:
			storeDone = nil
		}
		m := a.meta()
		if m == last {
			continue
		}
		if err := a.gossip.current().UpdateMeta(ctx, m); err != nil && ctx.Err() == nil {
			a.log.Warn("update gossip metadata", "error", err)
			continue
		}
		last = m
	}
}

// Err returns a bootstrap failure, if one happened.
func (a *Agent) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Close stops gossip and the store without leaving the cluster: a restart
// with the same data rejoins.
func (a *Agent) Close() error {
	a.cancel()
	a.wg.Wait()
	err := a.gossip.close()
	return errors.Join(err, a.closeStore())
}

func (a *Agent) closeStore() error {
	if a.Store == nil {
		return nil
	}
	return a.Store.Close()
}
