package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/boot"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// startLoggedNode runs a one-node cluster whose JSON log goes to logs.
func startLoggedNode(t *testing.T, logs io.Writer) *config.Config {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "limits", ControlPlanes: 1, LoopbackSubnet: freeSubnet(t)})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Config: doc, Name: cfg.Nodes[0].Name, StateDir: t.TempDir(), Capabilities: processCaps(t),
			Profile: formation.TestProfile(), Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		testutil.WaitNoLeaks(t, leakOpts...)
	})
	return cfg
}

// rawCodec sends pre-encoded protobuf bytes, which lets a test send what
// a well-behaved client cannot marshal (a string field that is not UTF-8).
type rawCodec struct{}

type rawMessage struct{ b []byte }

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*rawMessage).b, nil }

func (rawCodec) Unmarshal(b []byte, v any) error { return proto.Unmarshal(b, v.(proto.Message)) }

// TestNodeAPIRefusesBadDocumentsAndOversizedRequests checks, on a real node,
// the codes of ApplyConfig for what cannot be a configuration and of any
// request over the size limit; that gossip carries the boot slot the API
// reports; that every published resource type is defined; and that every
// log line names the node once.
func TestNodeAPIRefusesBadDocumentsAndOversizedRequests(t *testing.T) {
	logs := &lockedBuffer{}
	cfg := startLoggedNode(t, logs)
	self := cfg.Nodes[0]
	hc := clientFor(t, cfg, config.APIRoleAdmin)
	url := "https://" + self.APIEndpoint()
	cc := clusterv1connect.NewClusterServiceClient(hc, url, connect.WithGRPC())
	var cur *clusterv1.GetConfigResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		res, err := cc.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(ct, err)
		cur = res.Msg
	}, 20*time.Second, 20*time.Millisecond)

	apply := func(doc string) error {
		_, err := cc.ApplyConfig(context.Background(), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc, DryRun: true}))
		return err
	}
	for name, tc := range map[string]struct {
		doc  string
		code connect.Code
		msg  string
	}{
		"empty":     {"", connect.CodeInvalidArgument, "the document is empty"},
		"NUL bytes": {cur.Config + "\x00\x01", connect.CodeInvalidArgument, "not UTF-8 text"},
		"over the document limit": {cur.Config + "#" + strings.Repeat("x", config.MaxDocumentBytes), connect.CodeResourceExhausted,
			"the limit is 4 MiB"},
		"over the request limit": {cur.Config + "#" + strings.Repeat("x", 50<<20), connect.CodeResourceExhausted,
			fmt.Sprint(api.MaxRequestBytes)},
	} {
		err := apply(tc.doc)
		assert.Equal(t, tc.code, connect.CodeOf(err), "%s: %v", name, err)
		assert.ErrorContains(t, err, tc.msg, name)
	}
	require.NoError(t, apply(cur.Config+"# a comment\n"))

	// Not UTF-8 at all, as only a hand-made client can send it.
	raw := protowire.AppendTag(nil, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, []byte("\x89PNG\r\n\x1a\n"))
	rc := connect.NewClient[rawMessage, clusterv1.ApplyConfigResponse](hc, url+clusterv1connect.ClusterServiceApplyConfigProcedure,
		connect.WithGRPC(), connect.WithCodec(rawCodec{}))
	_, err := rc.CallUnary(context.Background(), connect.NewRequest(&rawMessage{b: raw}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)

	// Gossip carries the boot slot that Version reports.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		m, err := cc.Members(context.Background(), connect.NewRequest(&clusterv1.MembersRequest{}))
		require.NoError(ct, err)
		require.Len(ct, m.Msg.Members, 1)
		assert.Equal(ct, boot.SlotA, m.Msg.Members[0].Slot)
	}, 10*time.Second, 20*time.Millisecond)

	// Every type the node publishes is defined (controllers.Definitions):
	// an undefined one is listed without a description.
	rsc := resourcev1connect.NewResourceServiceClient(hc, url, connect.WithGRPC())
	defs, err := rsc.ListDefinitions(context.Background(), connect.NewRequest(&resourcev1.ListDefinitionsRequest{}))
	require.NoError(t, err)
	for _, d := range defs.Msg.GetDefinitions() {
		assert.NotEmpty(t, d.GetDescription(), "type %s is published but not in controllers.Definitions", d.GetType())
	}

	// Raft's own lines carry a "node" of their own (an object); only the
	// tag, the node's name, must appear once.
	components := map[string]bool{}
	for _, line := range logs.lines() {
		fields := topLevelFields(t, line)
		tags := 0
		for _, v := range fields["node"] {
			if v == `"`+self.Name+`"` {
				tags++
			}
		}
		assert.LessOrEqual(t, tags, 1, "node tagged more than once: %s", line)
		if tags == 1 {
			for _, c := range fields["component"] {
				components[c] = true
			}
		}
	}
	for _, c := range []string{`"consensus"`, `"gossip"`, `"formation"`, `"api"`} {
		assert.True(t, components[c], "no %s line names the node", c)
	}
}

// topLevelFields returns the raw values of a JSON object's keys, every one
// of a duplicated key (which encoding/json would merge).
func topLevelFields(t *testing.T, line string) map[string][]string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	out := map[string][]string{}
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		out[k.(string)] = append(out[k.(string)], string(v))
	}
	return out
}
