package consensus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childEnv makes the test binary run as one store process (runChild), so a
// test can SIGKILL real processes holding real files and sockets.
const childEnv = "CAIRN_CONSENSUS_CHILD"

// runChild opens a store from the environment, bootstraps it if new, and
// writes keys forever while it leads, printing "ACK key" once each write is
// acknowledged. It exits only by being killed.
func runChild() {
	var id, addr, dir, peers string
	fmt.Sscan(os.Getenv(childEnv), &id, &addr, &dir, &peers)
	cfg := testConfig(nil, id, addr, dir)
	s, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var servers []Server
	for _, p := range strings.Split(peers, ",") {
		pid, paddr, _ := strings.Cut(p, "=")
		servers = append(servers, Server{ID: pid, Address: paddr})
	}
	if err := s.Bootstrap(servers); err != nil && !errors.Is(err, ErrHasState) {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for seq := 0; ; seq++ {
		key := fmt.Sprintf("%s-%06d", id, seq)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.Create(ctx, "K", key, []byte(key))
		cancel()
		if err != nil {
			time.Sleep(5 * time.Millisecond) // not leader: wait for the next election
			continue
		}
		fmt.Fprintln(out, "ACK", key)
		out.Flush()
	}
}

// TestWholeClusterKillRestart SIGKILLs every node of a 3-node cluster while
// it takes writes, restarts them from disk, and checks that every write
// acknowledged before the kill is there and all nodes agree.
func TestWholeClusterKillRestart(t *testing.T) {
	c := &testCluster{t: t, net: newFaultNet()}
	var peers []string
	for i := range 3 {
		nd := &testNode{id: fmt.Sprintf("n%d", i+1), addr: nextAddr(), dir: t.TempDir()}
		c.nodes = append(c.nodes, nd)
		peers = append(peers, nd.id+"="+nd.addr)
	}
	t.Cleanup(c.closeAll)

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		procs []*exec.Cmd
	)
	for _, nd := range c.nodes {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s", childEnv, nd.id, nd.addr, nd.dir, strings.Join(peers, ",")))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		procs = append(procs, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if key, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}()
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	}, 30*time.Second, 10*time.Millisecond, "the cluster never took 300 writes")

	for _, p := range procs {
		require.NoError(t, p.Process.Signal(syscall.SIGKILL))
	}
	for _, p := range procs {
		_ = p.Wait()
	}
	wg.Wait() // every ACK printed before the kill has been read
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	for _, nd := range c.nodes {
		c.start(nd)
	}
	lead := c.leader()
	ctx := ctxT(t)
	all, rev, err := lead.store.List(ctx, "K", Linearizable)
	require.NoError(t, err)
	have := map[string]bool{}
	for _, r := range all {
		have[r.ID] = true
	}
	for _, key := range acked {
		require.True(t, have[key], "acknowledged write %s lost", key)
	}
	c.waitConverged(rev)
	for _, nd := range c.nodes {
		got, _, err := nd.store.List(ctx, "K", Stale)
		require.NoError(t, err)
		assert.Equal(t, all, got, "node %s diverged", nd.id)
	}
}
