package etcd

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Ops are the operator's etcd operations on this node's own member
// (cairnctl etcd ...): every call goes to this member's client URL only,
// so what it reports is this member's view, as with talosctl etcd.
//
// An Ops exists for the node's whole life. Made with NewLocalOps it reads
// the member's client certificate and dials for every call (operator
// calls are rare; a handshake per call means a renewed certificate and a
// member started later are simply picked up); made with NewOps it keeps
// one client over a given TLS configuration. While the node runs no
// member it can reach, every method fails with ErrNoMember.
type Ops struct {
	layout   *Layout // NewLocalOps: TLS read from here per call
	mu       sync.Mutex
	endpoint string
	tls      *tls.Config
	cli      *clientv3.Client // NewOps: made on first use
}

// NewOps returns operations on the member at endpoint
// (https://IP:2379, Member.ClientURL) over tlsConf (LoadClientTLS), with
// one client kept until Close or Use. A nil tlsConf means this node runs
// no member (yet): see Use.
func NewOps(endpoint string, tlsConf *tls.Config) *Ops {
	return &Ops{endpoint: endpoint, tls: tlsConf}
}

// NewLocalOps returns operations on this node's member at clientURL
// (Member.ClientURL), with cairnd's client certificate read from layout
// (WriteCerts) at each call. Until the certificate exists, or while
// nothing listens at clientURL (etcd not started, or stopped), calls fail
// with ErrNoMember at once instead of waiting for their deadline.
func NewLocalOps(layout Layout, clientURL string) *Ops {
	return &Ops{layout: &layout, endpoint: clientURL}
}

// Use points o at the member at endpoint over tlsConf from now on (nil:
// no member). A client to the previous one is closed; calls running on it
// fail.
func (o *Ops) Use(endpoint string, tlsConf *tls.Config) {
	o.mu.Lock()
	old := o.cli
	o.endpoint, o.tls, o.cli = endpoint, tlsConf, nil
	o.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

// Close closes the client; o fails with ErrNoMember afterwards until Use.
func (o *Ops) Close() error {
	o.Use("", nil)
	return nil
}

// conn is a client to this member for one call.
type conn struct {
	cli     *clientv3.Client
	ep      string
	tls     *tls.Config
	release func()
}

// probeTimeout bounds the TCP probe of NewLocalOps' member.
const probeTimeout = time.Second

// client returns a client to this member for one call; release it after.
func (o *Ops) client() (conn, error) {
	if o.layout != nil {
		return o.localClient()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tls == nil || o.endpoint == "" {
		return conn{}, ErrNoMember
	}
	if o.cli == nil {
		cli, err := New([]string{o.endpoint}, o.tls)
		if err != nil {
			return conn{}, err
		}
		o.cli = cli
	}
	return conn{cli: o.cli, ep: o.endpoint, tls: o.tls, release: func() {}}, nil
}

func (o *Ops) localClient() (conn, error) {
	conf, err := LoadClientTLS(*o.layout)
	if err != nil {
		return conn{}, fmt.Errorf("%w: no etcd client certificate yet: %w", ErrNoMember, err)
	}
	u, err := url.Parse(o.endpoint)
	if err != nil {
		return conn{}, fmt.Errorf("etcd client URL %q: %w", o.endpoint, err)
	}
	probe, err := net.DialTimeout("tcp", u.Host, probeTimeout)
	if err != nil {
		return conn{}, fmt.Errorf("%w: etcd does not listen at %s: %w", ErrNoMember, o.endpoint, err)
	}
	_ = probe.Close()
	cli, err := New([]string{o.endpoint}, conf)
	if err != nil {
		return conn{}, err
	}
	return conn{cli: cli, ep: o.endpoint, tls: conf, release: func() { _ = cli.Close() }}, nil
}

// Members lists the cluster's members as this member knows them
// (linearizable: a member cut off from the leader fails rather than
// answering from a stale list).
func (o *Ops) Members(ctx context.Context) ([]MemberInfo, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	defer c.release()
	cli := c.cli
	return members(ctx, cli)
}

func members(ctx context.Context, cli *clientv3.Client) ([]MemberInfo, error) {
	res, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("etcd member list: %w", err)
	}
	out := make([]MemberInfo, 0, len(res.Members))
	for _, m := range res.Members {
		out = append(out, MemberInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner})
	}
	return out, nil
}

// Status is this member's own report with the alarms raised on it. Its
// name comes from the member list, which a member without a leader
// cannot serve, nor a learner (it serves status and serializable reads
// only): the name is then empty and the rest still reported.
func (o *Ops) Status(ctx context.Context) (MemberStatus, error) {
	c, err := o.client()
	if err != nil {
		return MemberStatus{}, err
	}
	defer c.release()
	cli, ep := c.cli, c.ep
	res, err := cli.Status(ctx, ep)
	if err != nil {
		return MemberStatus{}, fmt.Errorf("etcd status of %s: %w", ep, err)
	}
	st := statusOf(res)
	if st.Learner {
		// It would refuse both calls below, after the client's retries.
		return st, nil
	}
	if list, err := members(ctx, cli); err == nil {
		for _, m := range list {
			if m.ID == st.MemberID {
				st.Name = m.Name
			}
		}
	}
	if alarms, err := alarms(ctx, cli); err == nil {
		for _, a := range alarms {
			if a.MemberID == st.MemberID {
				st.Alarms = append(st.Alarms, a)
			}
		}
	}
	return st, nil
}

func statusOf(res *clientv3.StatusResponse) MemberStatus {
	st := MemberStatus{
		Learner: res.IsLearner, LeaderID: res.Leader,
		RaftTerm: res.RaftTerm, RaftIndex: res.RaftIndex, RaftAppliedIndex: res.RaftAppliedIndex,
		DBSize: res.DbSize, DBSizeInUse: res.DbSizeInUse, DBSizeQuota: res.DbSizeQuota,
		Version: res.Version, Errors: res.Errors,
	}
	if h := res.Header; h != nil {
		st.MemberID, st.ClusterID, st.Revision = h.MemberId, h.ClusterId, h.Revision
	}
	return st
}

// snapshotChunk is how much of a snapshot is handed to the writer at once.
const snapshotChunk = 256 << 10

// Snapshot writes a point-in-time snapshot of this member's database to
// w (etcd's format, with its SHA-256 at the end: what etcdutl snapshot
// restore reads) and returns its size and revision. It holds every key,
// secrets included.
func (o *Ops) Snapshot(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	c, err := o.client()
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer c.release()
	cli, ep := c.cli, c.ep
	res, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("etcd snapshot of %s: %w", ep, err)
	}
	defer res.Snapshot.Close()
	// etcd's stream carries no revision. The backend's read transaction
	// was taken before the first chunk arrived, so the store's revision now
	// is the snapshot's, or later by writes that raced with its start.
	var rev int64
	version := res.Version
	if st, err := cli.Status(ctx, ep); err == nil && st.Header != nil {
		rev = st.Header.Revision
		if version == "" {
			// The snapshot names etcd's storage version, which a cluster
			// only records a moment after it first starts; the member's
			// own version is the one that took it.
			version = st.Version
		}
	}
	bw := bufio.NewWriterSize(w, snapshotChunk)
	n, err := io.Copy(bw, res.Snapshot)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return SnapshotInfo{Size: n}, fmt.Errorf("etcd snapshot of %s: %w", ep, err)
	}
	return SnapshotInfo{Size: n, Revision: rev, Version: version}, nil
}

// Defragment rebuilds this member's database file without its free
// pages. The member serves nothing while it runs (seconds per GiB), so
// members are defragmented one at a time.
func (o *Ops) Defragment(ctx context.Context) (DefragmentResult, error) {
	c, err := o.client()
	if err != nil {
		return DefragmentResult{}, err
	}
	defer c.release()
	cli, ep := c.cli, c.ep
	before, err := cli.Status(ctx, ep)
	if err != nil {
		return DefragmentResult{}, fmt.Errorf("etcd status of %s: %w", ep, err)
	}
	if _, err := cli.Defragment(ctx, ep); err != nil {
		return DefragmentResult{}, fmt.Errorf("etcd defragment %s: %w", ep, err)
	}
	out := DefragmentResult{SizeBefore: before.DbSize}
	if after, err := cli.Status(ctx, ep); err == nil {
		out.SizeAfter = after.DbSize
	}
	return out, nil
}

// Alarms lists the alarms raised on any member (the alarm list is
// replicated: every member knows them all).
func (o *Ops) Alarms(ctx context.Context) ([]Alarm, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	defer c.release()
	cli := c.cli
	return alarms(ctx, cli)
}

func alarms(ctx context.Context, cli *clientv3.Client) ([]Alarm, error) {
	res, err := cli.AlarmList(ctx)
	if err != nil {
		return nil, fmt.Errorf("etcd alarm list: %w", err)
	}
	return alarmsOf(res), nil
}

func alarmsOf(res *clientv3.AlarmResponse) []Alarm {
	out := make([]Alarm, 0, len(res.Alarms))
	for _, a := range res.Alarms {
		out = append(out, Alarm{MemberID: a.MemberID, Type: AlarmType(a.Alarm.String())})
	}
	return out
}

// DisarmAlarms disarms every alarm of every member and returns those it
// disarmed. A NOSPACE alarm comes back at once unless space was freed
// first (compaction and Defragment).
func (o *Ops) DisarmAlarms(ctx context.Context) ([]Alarm, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	defer c.release()
	cli := c.cli
	// A zero member ID and alarm type: every alarm (clientv3 lists them
	// and disarms each).
	res, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{})
	if err != nil {
		return nil, fmt.Errorf("etcd alarm disarm: %w", err)
	}
	return alarmsOf(res), nil
}
