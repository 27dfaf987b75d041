package integration

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test-only stand-in service that cairn.testservice=orphans turns on
// (cmd/cairnd/testservice.go): cairnd test-orphans, which leaves a
// grandchild in a session of its own each time it is killed, and exits
// with its own code on SIGTERM.
const (
	orphansService  = "test-orphans"
	orphansExitCode = 7
	orphansKills    = 20
)

type serviceAnswer struct {
	Name         string `json:"name"`
	State        string `json:"state"`
	PID          int    `json:"pid"`
	Restarts     int    `json:"restarts"`
	LastExitCode int    `json:"lastExitCode"`
}

type processesAnswer struct {
	NodeName  string `json:"nodeName"`
	Processes []struct {
		PID     int      `json:"pid"`
		PPID    int      `json:"ppid"`
		State   string   `json:"state"`
		Command string   `json:"command"`
		Args    []string `json:"args"`
	} `json:"processes"`
}

// TestQEMUReapsOrphansOfAKilledService boots one control plane as a VM
// with the test service on and kills the service 20 times through the
// API. Each kill leaves an orphan that PID 1 must reap once it exits,
// without taking the exit statuses of the supervisor's own children:
// afterwards `ps` shows no zombie, the reaper counts at least 20
// orphans, and the supervisor saw each of the 20 exits with the
// service's own exit code, none lost to the reaper (-1).
func TestQEMUReapsOrphansOfAKilledService(t *testing.T) {
	requireQEMU(t)
	kernel, initrd := bootFiles(t)
	c := createCluster(t, "reaper", 1, 0, "--provisioner", "qemu",
		"--kernel", kernel, "--initramfs", initrd, "--wait-timeout", qemuWait.String(),
		"--kernel-args", "cairn.testservice=orphans")
	require.Len(t, c.state.Nodes, 1)
	require.True(t, c.state.Nodes[0].Running)

	svc := waitServiceRunning(t, c, 0)
	require.Zero(t, svc.Restarts, "the service has not been restarted yet")
	for i := range orphansKills {
		out, err := c.ctl("service", "restart", orphansService)
		require.NoError(t, err, "restart %d: %s", i+1, out)
		// Restart returns once the old process has exited; the new one
		// runs once the supervisor has started it.
		next := waitServiceRunning(t, c, svc.PID)
		require.Equal(t, svc.Restarts+1, next.Restarts, "restart %d counted once", i+1)
		if next.LastExitCode != orphansExitCode {
			out, _ := c.ctl("-n", "cp1", "logs", "cairnd")
			t.Fatalf("restart %d: the supervisor recorded exit code %d, not the service's own %d; its exits:\n%s",
				i+1, next.LastExitCode, orphansExitCode, strings.Join(exitLines(out, orphansService), "\n"))
		}
		svc = next
	}
	require.Equal(t, orphansKills, svc.Restarts)

	// The last orphans linger a second before they exit; then nothing is
	// left unreaped, and of the grandchildren only the running service's
	// own is alive.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		p := machineJSON[processesAnswer](t, c, []string{"cp1"}, "ps")[0]
		var zombies, grandchildren []string
		for _, pr := range p.Processes {
			if pr.State == "Z" {
				zombies = append(zombies, fmt.Sprintf("%d (%s, parent %d)", pr.PID, pr.Command, pr.PPID))
			}
			if slices.Equal(lastArgs(pr.Args, 2), []string{"test-orphans", "grandchild"}) {
				grandchildren = append(grandchildren, fmt.Sprintf("%d (parent %d)", pr.PID, pr.PPID))
				assert.Equal(ct, svc.PID, pr.PPID, "a grandchild of a killed service is still alive")
			}
		}
		assert.Empty(ct, zombies, "zombies in ps")
		assert.Len(ct, grandchildren, 1, "only the running service's grandchild is alive")
	}, qemuWait, time.Second)

	require.GreaterOrEqual(t, reapedOrphans(t, c), uint64(orphansKills), "PID 1 reaped each killed service's orphan")

	// Every exit the supervisor logged is the service's own code, one per
	// kill: none was taken by the reaper, which would show as -1.
	out, err := c.ctl("-n", "cp1", "logs", "cairnd")
	require.NoError(t, err, out)
	codes := exitCodes(out, orphansService)
	require.Len(t, codes, orphansKills, "one exit logged per kill")
	for _, code := range codes {
		require.Equal(t, orphansExitCode, code, "exit codes: %v", codes)
	}
}

// waitServiceRunning waits until the test service runs as a process other
// than notPID and returns its status.
func waitServiceRunning(t *testing.T, c *localCluster, notPID int) serviceAnswer {
	t.Helper()
	var got serviceAnswer
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		out, err := c.ctl("-o", "json", "services")
		require.NoError(ct, err, out)
		var res struct {
			Services []serviceAnswer `json:"services"`
		}
		require.NoError(ct, json.Unmarshal([]byte(out), &res), out)
		i := slices.IndexFunc(res.Services, func(s serviceAnswer) bool { return s.Name == orphansService })
		require.GreaterOrEqual(ct, i, 0, "no %s among the services: %s", orphansService, out)
		got = res.Services[i]
		assert.Equal(ct, "SERVICE_STATE_RUNNING", got.State, out)
		assert.NotZero(ct, got.PID)
		assert.NotEqual(ct, notPID, got.PID, "still the killed process")
	}, qemuWait, 500*time.Millisecond)
	return got
}

// reapedOrphans is ReaperStatus's count of the orphans PID 1 reaped.
func reapedOrphans(t *testing.T, c *localCluster) uint64 {
	t.Helper()
	out, err := c.ctl("-n", "cp1", "-o", "json", "get", "ReaperStatus", "machine")
	require.NoError(t, err, out)
	var res struct {
		Resources []struct {
			Spec struct {
				Reaped uint64 `json:"reaped"`
			} `json:"spec"`
		} `json:"resources"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res.Resources, 1, out)
	return res.Resources[0].Spec.Reaped
}

var exitCodeField = regexp.MustCompile(`\bcode=(-?\d+)`)

// exitCodes lists the exit codes of service's processes in the
// supervisor's "service process exited" records of cairnd's log, in order.
func exitCodes(log, service string) []int {
	var out []int
	for _, line := range exitLines(log, service) {
		if m := exitCodeField.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		}
	}
	return out
}

// exitLines are the supervisor's "service process exited" records of
// service in cairnd's log.
func exitLines(log, service string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="service process exited"`) && strings.Contains(line, "service="+service+" ") {
			out = append(out, line)
		}
	}
	return out
}

// lastArgs is the last n elements of s, or all of it.
func lastArgs(s []string, n int) []string {
	return s[max(0, len(s)-n):]
}
