package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/machine/etcd"
)

// fakeMember is one node's etcd member in memory, for the real
// cairn.etcd.v1 handler (node/api) to serve.
type fakeMember struct {
	mu       sync.Mutex
	id       uint64
	name     string
	members  []etcd.MemberInfo
	db       []byte
	failAt   int // Snapshot fails after this many bytes when > 0
	defrags  int
	removed  []uint64
	leaderID uint64
}

var cluster3 = []etcd.MemberInfo{
	{ID: 0x8e9e05c52164694d, Name: "cp1", PeerURLs: []string{"https://10.0.0.1:2380"}, ClientURLs: []string{"https://10.0.0.1:2379"}},
	{ID: 0x1c3a2f, Name: "cp2", PeerURLs: []string{"https://10.0.0.2:2380"}, ClientURLs: []string{"https://10.0.0.2:2379"}},
	{ID: 0xa1, Name: "cp3", PeerURLs: []string{"https://10.0.0.3:2380"}, Learner: true},
}

func (f *fakeMember) Members(context.Context) ([]etcd.MemberInfo, error) { return cluster3, nil }

func (f *fakeMember) Status(context.Context) (etcd.MemberStatus, error) {
	return etcd.MemberStatus{MemberID: f.id, Name: f.name, LeaderID: f.leaderID, RaftTerm: 3, RaftIndex: 120, RaftAppliedIndex: 119,
		DBSize: 4 << 20, DBSizeInUse: 1 << 20, Version: "3.7.3", Alarms: []etcd.Alarm{{MemberID: f.id, Type: etcd.AlarmNoSpace}}}, nil
}

func (f *fakeMember) Snapshot(_ context.Context, w io.Writer) (etcd.SnapshotInfo, error) {
	for off := 0; off < len(f.db); off += 100 << 10 {
		end := min(off+100<<10, len(f.db))
		if f.failAt > 0 && end > f.failAt {
			return etcd.SnapshotInfo{}, errors.New("member went away")
		}
		if _, err := w.Write(f.db[off:end]); err != nil {
			return etcd.SnapshotInfo{}, err
		}
	}
	return etcd.SnapshotInfo{Size: int64(len(f.db)), Revision: 77, Version: "3.7.0"}, nil
}

func (f *fakeMember) Defragment(context.Context) (etcd.DefragmentResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.defrags++
	return etcd.DefragmentResult{SizeBefore: 4 << 20, SizeAfter: 1 << 20}, nil
}

func (f *fakeMember) Alarms(context.Context) ([]etcd.Alarm, error) {
	return []etcd.Alarm{{MemberID: 0xa1, Type: etcd.AlarmCorrupt}}, nil
}

func (f *fakeMember) DisarmAlarms(ctx context.Context) ([]etcd.Alarm, error) { return f.Alarms(ctx) }

func (f *fakeMember) ForfeitLeadership(context.Context) (etcd.ForfeitResult, error) {
	if f.leaderID != f.id {
		return etcd.ForfeitResult{LeaderID: f.leaderID, LeaderName: "cp2"}, nil
	}
	return etcd.ForfeitResult{Moved: true, LeaderID: 0x1c3a2f, LeaderName: "cp2"}, nil
}

func (f *fakeMember) Leave(context.Context) (etcd.MemberInfo, error) {
	return etcd.MemberInfo{}, fmt.Errorf("%w: 1 of the 2 voting members left are healthy, 2 are needed", etcd.ErrQuorum)
}

func (f *fakeMember) RemoveMember(_ context.Context, id uint64) (etcd.MemberInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range cluster3 {
		if m.ID == id {
			f.removed = append(f.removed, id)
			return m, nil
		}
	}
	return etcd.MemberInfo{}, fmt.Errorf("%w: %x", etcd.ErrUnknownMember, id)
}

// serveEtcd serves node/api's etcd handler over one fake member per node
// name (the Cairn-Node header; "" is the endpoint's own) with the test
// PKI, and makes it the current context.
func serveEtcd(t *testing.T, nodes map[string]api.EtcdOps) string {
	t.Helper()
	p := getPKI(t)
	handlers := map[string]http.Handler{}
	for name, ops := range nodes {
		_, h := api.NewEtcdHandler(ops)
		handlers[name] = h
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := handlers[r.Header.Get(headerNode)]
		if !ok {
			http.Error(w, "unknown node", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13, NextProtos: []string{"h2", "http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	path, err := defaultClientConfigPath()
	require.NoError(t, err)
	cc, err := ReadClientConfig(path)
	require.NoError(t, err)
	cc.Merge("fake", p.adminContext(addr), false)
	require.NoError(t, WriteClientConfig(path, cc))
	return addr
}

func threeMembers(t *testing.T) (map[string]api.EtcdOps, map[string]*fakeMember) {
	db := make([]byte, 1<<20+5)
	_, err := rand.Read(db)
	require.NoError(t, err)
	fakes := map[string]*fakeMember{}
	ops := map[string]api.EtcdOps{}
	for _, m := range cluster3 {
		f := &fakeMember{id: m.ID, name: m.Name, db: db, leaderID: 0x1c3a2f}
		fakes[m.Name] = f
		ops[m.Name] = f
	}
	ops[""] = fakes["cp1"]
	return ops, fakes
}

func TestEtcdMembersAndStatusTables(t *testing.T) {
	isolateHome(t)
	ops, _ := threeMembers(t)
	serveEtcd(t, ops)

	r := runCLI(t, "etcd", "members")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, []string{"ID", "NAME", "PEER-URLS", "CLIENT-URLS", "LEARNER"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"8e9e05c52164694d", "cp1", "https://10.0.0.1:2380", "https://10.0.0.1:2379", "no"}, strings.Fields(lines[1]))
	assert.Equal(t, []string{"a1", "cp3", "https://10.0.0.3:2380", "-", "yes"}, strings.Fields(lines[3]))

	r = runCLI(t, "-n", "cp1,cp2", "etcd", "status")
	require.Equal(t, 0, r.code, r.stderr)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, []string{"NODE", "MEMBER", "NAME", "DB-SIZE", "IN-USE", "LEADER", "RAFT-INDEX", "RAFT-TERM", "RAFT-APPLIED", "LEARNER", "ALARMS", "ERRORS"},
		strings.Fields(lines[0]))
	assert.Equal(t, []string{"cp1", "8e9e05c52164694d", "cp1", "4.0MiB", "1.0MiB", "(25%)", "1c3a2f", "120", "3", "119", "no", "NOSPACE", "-"},
		strings.Fields(lines[1]))
	assert.Equal(t, "cp2", strings.Fields(lines[2])[0])

	r = runCLI(t, "-n", "cp1,cp2", "etcd", "members", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var out struct {
		Members []map[string]any `json:"members"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&out))
	require.Len(t, out.Members, 6)
	assert.Equal(t, "cp1", out.Members[0]["node"])
	assert.Equal(t, json.Number(fmt.Sprint(uint64(0x8e9e05c52164694d))), out.Members[0]["id"])

	r = runCLI(t, "etcd", "alarm", "list")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{"MEMBER", "ALARM", "a1", "CORRUPT"}, strings.Fields(r.stdout))
}

func TestEtcdSnapshotWritesTheFileOnlyWhenComplete(t *testing.T) {
	isolateHome(t)
	ops, fakes := threeMembers(t)
	serveEtcd(t, ops)
	dir := t.TempDir()
	file := filepath.Join(dir, "etcd.snapshot")

	r := runCLI(t, "-n", "cp2", "etcd", "snapshot", file)
	require.Equal(t, 0, r.code, r.stderr)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, fakes["cp2"].db, got)
	assert.Contains(t, r.stdout, fmt.Sprintf("etcd snapshot saved to %s: %d bytes (1.0MiB), revision 77, etcd 3.7.0", file, len(got)))
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.NoFileExists(t, file+".part")

	// A stream that breaks midway leaves no file, and no .part.
	fakes["cp3"].failAt = 300 << 10
	broken := filepath.Join(dir, "broken.snapshot")
	r = runCLI(t, "-n", "cp3", "etcd", "snapshot", broken)
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "member went away")
	assert.NoFileExists(t, broken)
	assert.NoFileExists(t, broken+".part")

	r = runCLI(t, "-n", "cp1,cp2", "etcd", "snapshot", file)
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "asks one node")
}

func TestEtcdChangesAndTheirRefusals(t *testing.T) {
	isolateHome(t)
	ops, fakes := threeMembers(t)
	serveEtcd(t, ops)

	r := runCLI(t, "-n", "cp1,cp2", "etcd", "defrag")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "cp1: defragmented etcd: 4.0MiB -> 1.0MiB\ncp2: defragmented etcd: 4.0MiB -> 1.0MiB\n", r.stdout)
	assert.Equal(t, 1, fakes["cp1"].defrags)
	assert.Equal(t, 1, fakes["cp2"].defrags)

	r = runCLI(t, "-n", "cp1", "etcd", "forfeit-leadership")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "not the etcd leader; the leader is cp2 (1c3a2f)\n", r.stdout)
	r = runCLI(t, "-n", "cp2", "etcd", "forfeit-leadership")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "etcd leadership moved to cp2 (1c3a2f)\n", r.stdout)

	r = runCLI(t, "-n", "cp1", "etcd", "leave")
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "removing the member would break etcd quorum")

	// Hex as printed, or decimal.
	r = runCLI(t, "-n", "cp1", "etcd", "remove-member", "1c3a2f")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "removed member cp2 (1c3a2f) from etcd\n", r.stdout)
	r = runCLI(t, "-n", "cp1", "etcd", "remove-member", fmt.Sprint(uint64(0x8e9e05c52164694d)))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []uint64{0x1c3a2f, 0x8e9e05c52164694d}, fakes["cp1"].removed)
	r = runCLI(t, "-n", "cp1", "etcd", "remove-member", "ffff")
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "no etcd member with this ID")
	r = runCLI(t, "etcd", "remove-member", "not-an-id")
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "member ID \"not-an-id\"")
}

// A worker answers failed_precondition, saying why.
func TestEtcdOnAWorker(t *testing.T) {
	isolateHome(t)
	serveEtcd(t, map[string]api.EtcdOps{"": nil, "worker1": nil})
	r := runCLI(t, "-n", "worker1", "etcd", "status")
	require.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "this node runs no etcd member (workers do not")
}

func TestParseMemberID(t *testing.T) {
	for in, want := range map[string]uint64{
		"8e9e05c52164694d":     0x8e9e05c52164694d,
		"0x8e9e05c52164694d":   0x8e9e05c52164694d,
		"10276657743932975437": 10276657743932975437,
		"1234":                 0x1234,
	} {
		got, err := parseMemberID(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "xyz", "99999999999999999999999"} {
		_, err := parseMemberID(in)
		assert.ErrorIs(t, err, ErrUsage, in)
	}
}

// Against a real member (through the real handler): status names it, and
// the snapshot file holds what the member sent, with the revision of the
// last write.
func TestEtcdAgainstARealMember(t *testing.T) {
	// Before isolateHome: etcd is built with the real HOME's build cache.
	c := etcdtest.StartCluster(t, 1)
	isolateHome(t)
	m := c.Members[0]
	put, err := c.Client(t).Put(t.Context(), "k", "v")
	require.NoError(t, err)
	serveEtcd(t, map[string]api.EtcdOps{"": etcd.NewLocalOps(m.Layout, m.ClientURL())})

	r := runCLI(t, "etcd", "status", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"name": "m1"`)

	file := filepath.Join(t.TempDir(), "etcd.snapshot")
	r = runCLI(t, "etcd", "snapshot", file, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var out struct {
		Size, Revision int64
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), out.Size)
	assert.Positive(t, out.Size)
	assert.Equal(t, put.Header.Revision, out.Revision)
}
