package health

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// DefaultRequestTimeout bounds each request of an observation, so a node
// that does not answer (paused, cut off) costs at most this much of a round
// instead of stalling it.
const DefaultRequestTimeout = 3 * time.Second

// Source is how an observation reaches the cluster: the node API's cluster
// service, as the node serving Health (node/api) or a client sees it.
type Source interface {
	// Config returns the current cluster configuration (a linearizable
	// read; secrets may be redacted).
	Config(ctx context.Context) (*clusterv1.GetConfigResponse, error)
	// Members returns node's membership view: node "" is the view of the
	// serving node (what a plain Members call answers); a named node answers
	// with its own view, from its own gossip when stale is set.
	Members(ctx context.Context, node string, stale bool) (*clusterv1.MembersResponse, error)
	// ConsensusStatus returns a control plane's own Raft status.
	ConsensusStatus(ctx context.Context, node string) (*clusterv1.ConsensusStatusResponse, error)
	// NodeStatus returns the spec (YAML or JSON) of one of a node's status
	// resources, such as EtcdStatus/etcd, or nil when the node has none.
	NodeStatus(ctx context.Context, node, typ, id string) ([]byte, error)
}

// Result is one node's answer to a request of an observation.
type Result[T any] struct {
	Val T
	Err error
}

// Observation is everything one health round learned from the cluster.
type Observation struct {
	// Expected are the node names of the cluster configuration; nil when
	// the configuration could not be read.
	Expected []string
	// ControlPlanes are the control-plane names of the configuration; nil
	// when it could not be read.
	ControlPlanes  []string
	ConfigRevision uint64
	ConfigErr      error

	Members    []*clusterv1.Member
	MembersErr error
	// Views are each alive member's own membership view (stale Members).
	Views map[string]Result[*clusterv1.MembersResponse]
	// Consensus are each control plane's ConsensusStatus.
	Consensus map[string]Result[*clusterv1.ConsensusStatusResponse]
	// Etcd are each control plane's etcd member (nil: it runs none).
	Etcd map[string]Result[*EtcdView]
	// Kubernetes are each control plane's Kubernetes components (nil: it
	// has no KubernetesStatus: it runs no Kubernetes).
	Kubernetes map[string]Result[*KubernetesView]
}

// Unobserved is an observation that learned nothing because err stopped it
// (no endpoint answered): every check fails naming err.
func Unobserved(err error) Observation { return Observation{ConfigErr: err, MembersErr: err} }

// configured reports whether the configuration lists the node; every node
// counts as listed while the configuration is unknown.
func (o Observation) configured(name string) bool {
	return o.Expected == nil || slices.Contains(o.Expected, name)
}

// current reports whether a member still belongs to the cluster: listed in
// the configuration, or alive (a removed node that has not left yet).
func (o Observation) current(m *clusterv1.Member) bool {
	return o.configured(m.GetName()) || m.GetGossipState() == clusterv1.GossipState_GOSSIP_STATE_ALIVE
}

// Observe gathers one round of health data through src: the configuration
// (for its revision and node list) and the serving node's membership
// together, then each alive member's own view and each control plane's Raft
// status, all at once. Every request is bounded by timeout, and by half of
// what is left of ctx's deadline (two rounds of requests must fit), so the
// answer comes in time even when nodes do not.
func Observe(ctx context.Context, src Source, timeout time.Duration) Observation {
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)/2)
	}
	var o Observation
	var wg sync.WaitGroup
	wg.Go(func() {
		cfg, err := bounded(ctx, timeout, src.Config)
		if err != nil {
			o.ConfigErr = err
			return
		}
		o.ConfigRevision = cfg.GetRevision()
		o.Expected, o.ControlPlanes, o.ConfigErr = configNodeNames(cfg.GetConfig())
	})
	observeMembers(ctx, src, timeout, &o) // sets only the membership fields
	wg.Wait()
	return o
}

// observeMembers reads the serving node's membership, then asks every alive
// member for its own view and every control plane for its Raft status.
func observeMembers(ctx context.Context, src Source, timeout time.Duration, o *Observation) {
	res, err := bounded(ctx, timeout, func(ctx context.Context) (*clusterv1.MembersResponse, error) {
		return src.Members(ctx, "", false)
	})
	if err != nil {
		o.MembersErr = err
		return
	}
	o.Members = res.GetMembers()
	var alive, cps []string
	for _, m := range o.Members {
		if m.GetGossipState() == clusterv1.GossipState_GOSSIP_STATE_ALIVE {
			alive = append(alive, m.GetName())
		}
		if m.GetRole() == clusterv1.Role_ROLE_CONTROLPLANE {
			cps = append(cps, m.GetName())
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		o.Views = perNode(ctx, timeout, alive, func(ctx context.Context, n string) (*clusterv1.MembersResponse, error) {
			return src.Members(ctx, n, true)
		})
	})
	wg.Go(func() { o.Consensus = perNode(ctx, timeout, cps, src.ConsensusStatus) })
	wg.Go(func() { o.Etcd = perNode(ctx, timeout, cps, statusOf(src, "EtcdStatus", "etcd", ParseEtcdView)) })
	wg.Go(func() {
		o.Kubernetes = perNode(ctx, timeout, cps, statusOf(src, "KubernetesStatus", "kubernetes", ParseKubernetesView))
	})
	wg.Wait()
}

// statusOf reads a node's status resource typ/id through src and parses
// it; nil when the node has none.
func statusOf[T any](src Source, typ, id string, parse func([]byte) (*T, error)) func(context.Context, string) (*T, error) {
	return func(ctx context.Context, node string) (*T, error) {
		spec, err := src.NodeStatus(ctx, node, typ, id)
		if err != nil || spec == nil {
			return nil, err
		}
		return parse(spec)
	}
}

// perNode calls fn for every node concurrently, each call bounded by
// timeout.
func perNode[T any](ctx context.Context, timeout time.Duration, nodes []string,
	fn func(context.Context, string) (T, error),
) map[string]Result[T] {
	out := make(map[string]Result[T], len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			v, err := bounded(ctx, timeout, func(ctx context.Context) (T, error) { return fn(ctx, n) })
			mu.Lock()
			out[n] = Result[T]{Val: v, Err: err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func bounded[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(ctx)
}

// configNodeNames lists the node names of a (possibly redacted)
// configuration document, and the control planes' among them.
func configNodeNames(doc string) (all, controlPlanes []string, err error) {
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		return nil, nil, err
	}
	all = make([]string, 0, len(cfg.Nodes))
	controlPlanes = []string{}
	for _, n := range cfg.Nodes {
		all = append(all, n.Name)
		if n.Role == config.RoleControlPlane {
			controlPlanes = append(controlPlanes, n.Name)
		}
	}
	return all, controlPlanes, nil
}

// shortener is an error that can describe itself in a few words (the
// client's "every endpoint failed" error).
type shortener interface{ Short() string }

// ShortError describes an error in a few words for a check line: an error's
// own short form if it has one, else a Connect error's message without the
// code prefix, else the error's text.
func ShortError(err error) string {
	var s shortener
	if errors.As(err, &s) {
		return s.Short()
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}
