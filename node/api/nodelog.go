package api

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
)

// NodeLogName is the service name under which cairn.service.v1 serves the
// node's own log, and lists the node itself. Talos users know it as
// machined; no supervised service may take it.
const NodeLogName = "cairnd"

// NodeLog is the node's own log as the API needs it (node/machine/nodelog.Log).
type NodeLog interface {
	// Lines returns the newest tail lines (all if tail < 0) and, with
	// follow, every later one until cancel.
	Lines(tail int, follow bool) (lines <-chan string, cancel func())
	// Level returns the current level.
	Level() slog.Level
	// SetLevel changes it and returns the level it replaced.
	SetLevel(slog.Level) (previous slog.Level)
}

// nodeService is the node itself as a pseudo-service: always running
// while it answers, since started, with cairnd's PID.
func nodeService(started time.Time) *servicev1.Service {
	return &servicev1.Service{
		Name:    NodeLogName,
		State:   servicev1.ServiceState_SERVICE_STATE_RUNNING,
		Pid:     int32(os.Getpid()),
		Message: "the node itself: its log is served as " + NodeLogName + "; it is not restarted through the API",
		Since:   timestamppb.New(started),
	}
}

// withNodeService inserts the node itself into a list ordered by name.
func withNodeService(list []*servicev1.Service, started time.Time) []*servicev1.Service {
	i, _ := slices.BinarySearchFunc(list, NodeLogName, func(s *servicev1.Service, name string) int {
		return strings.Compare(s.GetName(), name)
	})
	return slices.Insert(list, i, nodeService(started))
}

// logNames lists the names Logs serves, for a not-found error.
func (s *serviceService) logNames() string {
	var names []string
	if s.nodeLog != nil {
		names = append(names, NodeLogName)
	}
	for _, st := range s.sup.List() {
		names = append(names, st.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
