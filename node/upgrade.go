package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/cluster/health"
	"github.com/cairn-project/cairn/node/cluster/upgrade"
	"github.com/cairn-project/cairn/node/machine/artifacts"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/kube"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// peerClient is an HTTP client over this node's certificate, for the calls
// a node makes to its peers' APIs (and its own) on its own behalf.
func peerClient(tlsCfg *tls.Config, timeout time.Duration) (*http.Client, func()) {
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: timeout}, tr.CloseIdleConnections
}

// artifactSources are the alive members other than self, each a place to
// fetch an artifact from (ArtifactService.Download, this node's
// certificate).
func artifactSources(agent *formation.Agent, self string, client *http.Client) []artifacts.Source {
	var out []artifacts.Source
	for _, m := range agent.Members() {
		if m.Name == self || m.State != gossip.StateAlive || !m.Meta.APIAddr.IsValid() {
			continue
		}
		cl := upgradev1connect.NewArtifactServiceClient(client, "https://"+m.Meta.APIAddr.String(), connect.WithGRPC())
		out = append(out, artifacts.Source{Name: m.Name, Open: func(ctx context.Context, digest string) (io.ReadCloser, int64, error) {
			return openDownload(ctx, cl, digest)
		}})
	}
	return out
}

// openDownload starts a Download and returns its bytes as a reader, with
// the size its first message announces.
func openDownload(ctx context.Context, cl upgradev1connect.ArtifactServiceClient, digest string) (io.ReadCloser, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := cl.Download(ctx, connect.NewRequest(&upgradev1.DownloadRequest{Digest: digest}))
	if err != nil {
		cancel()
		return nil, 0, err
	}
	if !stream.Receive() {
		err := stream.Err()
		cancel()
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil, 0, fmt.Errorf("%w: %w", artifacts.ErrNotFound, err)
		}
		if err == nil {
			err = errors.New("the download carried no message")
		}
		return nil, 0, err
	}
	first := stream.Msg()
	return &downloadReader{buf: first.GetData(), stream: stream, cancel: cancel}, first.GetSize(), nil
}

type downloadReader struct {
	buf    []byte
	stream *connect.ServerStreamForClient[upgradev1.DownloadResponse]
	cancel context.CancelFunc
}

func (d *downloadReader) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if !d.stream.Receive() {
			if err := d.stream.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		d.buf = d.stream.Msg().GetData()
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}

func (d *downloadReader) Close() error {
	d.cancel()
	return d.stream.Close()
}

// upgradeOps is a control plane's side of UpgradeService (api.UpgradeOps):
// what the Raft leader does for an operator's start, status, pause,
// resume and abort.
type upgradeOps struct {
	agent     *formation.Agent
	self      string
	artifacts *artifacts.Store
	tls       *tls.Config
	// slots: this node was started by a boot stage with A/B slots, as
	// every node of its cluster is (process mode: the launcher's; container
	// mode: the image's entrypoint); pid1 nodes have none yet, and a plan
	// could only time out on them.
	slots bool
	// static: the nodes run from an image (container mode), which has no C
	// library: a dynamically linked cairnd is refused at start.
	static bool
}

var _ api.UpgradeOps = (*upgradeOps)(nil)

// Start fetches the artifact (from the members, unless held here), checks
// it, makes the plan from the stored config and gossip, and stores it.
func (u *upgradeOps) Start(ctx context.Context, req api.UpgradeStart) (upgrade.Plan, error) {
	store := u.agent.Store
	if old, err := upgrade.Get(ctx, store); err == nil && req.ID != "" && old.ID == req.ID {
		return old, nil // a retried start
	}
	if _, err := artifacts.ParseDigest(req.Digest); err != nil {
		return upgrade.Plan{}, fmt.Errorf("%w: %w", upgrade.ErrInvalid, err)
	}
	if !u.slots {
		return upgrade.Plan{}, fmt.Errorf("%w: %w (rolling upgrades run in process and container mode; pid1 nodes boot no slots yet)", upgrade.ErrUnsupported, errNoBootSlots)
	}
	client, done := peerClient(u.tls, 10*time.Minute)
	defer done()
	info, err := u.artifacts.Fetch(ctx, req.Digest, artifactSources(u.agent, u.self, client))
	if errors.Is(err, artifacts.ErrNotFound) {
		return upgrade.Plan{}, fmt.Errorf("%w: no member holds artifact %s: upload it first (cairnctl artifact upload)", upgrade.ErrInvalid, req.Digest)
	}
	if err != nil {
		return upgrade.Plan{}, fmt.Errorf("fetch the artifact: %w", err)
	}
	target, err := readArtifact(u.artifacts, info, u.static)
	if err != nil {
		return upgrade.Plan{}, err
	}
	members, err := u.members(ctx)
	if err != nil {
		return upgrade.Plan{}, err
	}
	r := req.Request
	r.Target = target
	p, err := upgrade.NewPlan(req.ID, r, members, time.Now())
	if err != nil || req.DryRun {
		return p, err
	}
	if err := upgrade.Start(ctx, store, p); err != nil {
		return upgrade.Plan{}, err
	}
	return upgrade.Get(ctx, store)
}

// runsFromImage: the node runs from the node image (container mode),
// which holds no C library for a dynamically linked cairnd.
func runsFromImage(o Options) bool { return o.Capabilities.Mode == capability.ModeContainer }

// readArtifact checks a held artifact is a cairnd for this machine
// (statically linked, when static) and reads the version it was built as.
func readArtifact(s *artifacts.Store, info artifacts.Info, static bool) (upgrade.Target, error) {
	path, err := s.Path(info.Digest)
	if err != nil {
		return upgrade.Target{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return upgrade.Target{}, fmt.Errorf("open the artifact: %w", err)
	}
	defer f.Close()
	if err := upgrade.CheckBinary(f); err != nil {
		return upgrade.Target{}, err
	}
	if static {
		if err := upgrade.CheckStatic(f); err != nil {
			return upgrade.Target{}, err
		}
	}
	v, err := upgrade.ArtifactVersion(f)
	if err != nil {
		return upgrade.Target{}, err
	}
	return upgrade.Target{Version: v, Digest: info.Digest, Size: info.Size}, nil
}

// members are the stored config's nodes with the versions gossip reports;
// a node that is not alive has no version to start from, and refuses the
// start.
func (u *upgradeOps) members(ctx context.Context) ([]upgrade.Member, error) {
	st, err := cfgstore.Get(ctx, u.agent.Store, consensus.Linearizable)
	if err != nil {
		return nil, fmt.Errorf("read the cluster config: %w", err)
	}
	alive := map[string]gossip.Member{}
	for _, m := range u.agent.Members() {
		if m.State == gossip.StateAlive {
			alive[m.Name] = m
		}
	}
	var out []upgrade.Member
	var missing []string
	for _, n := range st.Config.Nodes {
		m, ok := alive[n.Name]
		if !ok {
			missing = append(missing, n.Name)
			continue
		}
		role := upgrade.RoleWorker
		if n.Role == config.RoleControlPlane {
			role = upgrade.RoleControlPlane
		}
		out = append(out, upgrade.Member{Name: n.Name, Role: role, Version: m.Meta.Version})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %v not alive: an upgrade starts from a whole cluster", upgrade.ErrInvalid, missing)
	}
	return out, nil
}

// Rollback rolls the stored plan back, from the versions gossip reports.
func (u *upgradeOps) Rollback(ctx context.Context) (upgrade.Plan, error) {
	versions := map[string]string{}
	for _, m := range u.agent.Members() {
		if m.State == gossip.StateAlive {
			versions[m.Name] = m.Meta.Version
		}
	}
	return upgrade.StartRollback(ctx, u.agent.Store, versions, time.Now())
}

func (u *upgradeOps) Status(ctx context.Context) (upgrade.Plan, error) {
	return upgrade.Get(ctx, u.agent.Store)
}

func (u *upgradeOps) Change(ctx context.Context, fn func(upgrade.Plan) (upgrade.Plan, error)) (upgrade.Plan, error) {
	return upgrade.Change(ctx, u.agent.Store, fn)
}

// upgradePass is how often the leader's coordinator passes and each
// node's agent reads the plan: each of a node's steps waits for one of
// each.
const upgradePass = 500 * time.Millisecond

// registerUpgrades adds a control plane's side of rolling upgrades: the
// coordinator, run while this node leads, and the ops UpgradeService
// calls. Workers have neither (their calls are forwarded).
func registerUpgrades(agent *formation.Agent, cfg *config.Config, self *config.Node, o Options, store *artifacts.Store, tlsCfg *tls.Config, log *slog.Logger) api.UpgradeOps {
	if self.Role != config.RoleControlPlane {
		return nil
	}
	// Nodes that run a kubelet are drained before and uncordoned after
	// their upgrade, through this node's apiserver while it leads.
	var drainer *kubeDrainer
	if cfg.Secrets.KubernetesCA.Key != "" {
		drainer = newKubeDrainer(cfg.Secrets.KubernetesCA, kube.APIServerURL(etcdHost(self)))
	}
	agent.Store.AddLeaderFunc(func(ctx context.Context) {
		// One client per leadership: the view asks for the health check on
		// every pass of a running plan.
		client, done := peerClient(tlsCfg, 15*time.Second)
		defer done()
		// A node leaving, coming back or changing its metadata (its version,
		// its trial) wakes a pass at once.
		hints, unsubscribe := agent.MembershipHints()
		defer unsubscribe()
		v := &upgradeView{agent: agent, self: self.Name, drainer: drainer,
			health: clusterv1connect.NewClusterServiceClient(client, "https://"+self.APIEndpoint(), connect.WithGRPC())}
		cc := upgrade.CoordinatorConfig{
			Store: agent.Store,
			View:  v.view,
			TransferLeadership: func(ctx context.Context) error {
				return agent.Store.TransferLeadership(ctx, "")
			},
			// A pass without a running plan reads one record; with one it
			// observes the cluster's health (a round of calls to every node).
			Interval: upgradePass,
			Wake:     hints,
			Logger:   log,
		}
		if drainer != nil {
			cc.Drain, cc.Uncordon = drainer.Drain, drainer.Uncordon
		}
		coord, err := upgrade.NewCoordinator(cc)
		if err != nil {
			log.Error("upgrade coordinator", "error", err)
			return
		}
		coord.Run(ctx)
	})
	return &upgradeOps{agent: agent, self: self.Name, artifacts: store, tls: tlsCfg, slots: o.BootSlot != "",
		static: runsFromImage(o)}
}

// upgradeView is the leader's view of the cluster for one pass: the shared
// health check, through this node's own API (as `cairnctl health` sees
// it), and gossip.
type upgradeView struct {
	agent *formation.Agent
	self  string
	// health reaches this node's own API.
	health clusterv1connect.ClusterServiceClient
	// drainer reads the Kubernetes Nodes (nil: no Kubernetes).
	drainer *kubeDrainer
}

// view maps the health check onto the nodes: a node named by a failing
// check is not healthy; a failing check that names no node is a
// cluster-wide problem. Alive, version, trial and fallback come from
// gossip; the leader is this node (the pass runs only here). A node that
// runs a kubelet and is in progress or failed in p also gets its Node's
// drain state from the apiserver; the view is not known while that cannot
// be read (the pass waits rather than judge a drain it cannot see).
func (v *upgradeView) view(ctx context.Context, p upgrade.Plan) (upgrade.View, bool) {
	res, err := v.health.Health(ctx, connect.NewRequest(&clusterv1.HealthRequest{}))
	if err != nil {
		return upgrade.View{}, false
	}
	unhealthy := map[string]bool{}
	out := upgrade.View{Nodes: map[string]upgrade.NodeView{}, Leader: v.self}
	for _, c := range health.FromResponse(res.Msg) {
		if c.OK || c.Name == health.CheckConfig {
			// Config convergence is not availability: under a steady stream
			// of writes the nodes are always a revision or two apart, and
			// the plan would never move. A node that cannot apply its
			// config reports itself degraded in gossip (nodes check).
			continue
		}
		if len(c.Nodes) == 0 {
			out.Problems = append(out.Problems, c.Name+": "+c.Detail)
		}
		for _, n := range c.Nodes {
			unhealthy[n] = true
		}
	}
	for _, m := range v.agent.Members() {
		nv := upgrade.NodeView{
			Alive: m.State == gossip.StateAlive, Version: m.Meta.Version, Trial: m.Meta.BootTrial,
			FallbackReason: m.Meta.FallbackReason,
		}
		nv.Healthy = nv.Alive && !unhealthy[m.Name]
		if m.Meta.FallbackAt > 0 {
			nv.FallbackAt = time.Unix(m.Meta.FallbackAt, 0).UTC()
		}
		// A kubelet in process mode is none ("": not run); "disabled"
		// (Kubernetes off in the config) has no Node either.
		nv.Kubelet = v.drainer != nil && m.Meta.Kubelet != "" && m.Meta.Kubelet != "disabled"
		if s := p.Steps[m.Name]; nv.Kubelet && s != nil && (s.State == upgrade.StateDraining || s.State == upgrade.StateVerifying || s.State == upgrade.StateFailed) {
			st, err := v.drainer.state(ctx, m.Name)
			if err != nil {
				return upgrade.View{}, false
			}
			nv.Cordoned, nv.Drained, nv.DrainBlocked = st.cordoned, st.cordoned && len(st.left) == 0, st.blocked
			if nv.DrainBlocked == "" && len(st.left) > 0 {
				nv.DrainBlocked = fmt.Sprintf("%d pods still on it (%s)", len(st.left), strings.Join(st.left, ", "))
			}
		}
		out.Nodes[m.Name] = nv
	}
	return out, true
}
