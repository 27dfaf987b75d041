package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// GetLogLevel and SetLogLevel keep one level per target node, info at
// first, as each node would.
func (f *fakeNode) GetLogLevel(_ context.Context, req *connect.Request[machinev1.GetLogLevelRequest]) (*connect.Response[machinev1.GetLogLevelResponse], error) {
	n := f.record(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&machinev1.GetLogLevelResponse{NodeName: n, Level: f.logLevel(n)}), nil
}

func (f *fakeNode) SetLogLevel(_ context.Context, req *connect.Request[machinev1.SetLogLevelRequest]) (*connect.Response[machinev1.SetLogLevelResponse], error) {
	n := f.record(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.logLevel(n)
	if f.logLevels == nil {
		f.logLevels = map[string]machinev1.LogLevel{}
	}
	f.logLevels[n] = req.Msg.GetLevel()
	return connect.NewResponse(&machinev1.SetLogLevelResponse{NodeName: n, Level: req.Msg.GetLevel(), PreviousLevel: prev}), nil
}

// logLevel is node n's level; the caller holds f.mu.
func (f *fakeNode) logLevel(n string) machinev1.LogLevel {
	if l, ok := f.logLevels[n]; ok {
		return l
	}
	return machinev1.LogLevel_LOG_LEVEL_INFO
}

func TestLogLevelShowsAndSetsEachNodesLevel(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "log-level")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{{"NODE", "LEVEL"}, {"cp1", "info"}}, fields(r.stdout))

	r = runCLI(t, "-e", addr, "-n", "worker1", "log-level", "DEBUG")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{{"NODE", "LEVEL", "PREVIOUS"}, {"worker1", "debug", "info"}}, fields(r.stdout))

	r = runCLI(t, "-e", addr, "-n", "cp1,worker1", "log-level", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var out struct {
		Nodes []map[string]any `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	require.Len(t, out.Nodes, 2)
	assert.Equal(t, map[string]any{"nodeName": "cp1", "level": "LOG_LEVEL_INFO"}, out.Nodes[0])
	assert.Equal(t, map[string]any{"nodeName": "worker1", "level": "LOG_LEVEL_DEBUG"}, out.Nodes[1])

	r = runCLI(t, "-e", addr, "log-level", "verbose")
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "debug, info, warn, error")
	assert.Len(t, f.seenTargets(), 4, "a bad level sends nothing")
}

// fields splits output into lines of whitespace-separated fields.
func fields(out string) [][]string {
	var rows [][]string
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}
