package formation

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// See consensus/read.go: a VerifyLeader queued inside raft at shutdown is
	// never answered, and its waiter stays.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"))
}
