package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/health"
)

// healthPollInterval is the pause between health rounds while waiting.
const healthPollInterval = 500 * time.Millisecond

func newHealthCommand(g *globals) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the cluster is healthy",
		Long: `Ask the endpoint to check the cluster. A control plane evaluates the
checks (a worker forwards the call to one), with the same code the leader
judges by:

  nodes   every node of the cluster configuration is a member, every member
          is alive in gossip, and every alive member sees the same alive set
  leader  one leader, every control plane that answers follows it, and
          those that do are a quorum of the voters (a control plane that does
          not answer is named here and fails the raft check)
  raft    in the leader's view, every control plane of the configuration is
          a voter and healthy, and no other server is a member: fewer voters
          than configured control planes fails even while a quorum holds
  config  every member has applied the current configuration revision

Prints one line per check (✓ passed, … pending, ✗ failed). With --wait it
re-checks until every check passes or --wait-timeout runs out, redrawing the
lines on a terminal. Exits 0 when healthy and 1 otherwise. The global
--timeout bounds each round; the node bounds each of its own requests to 3 s
(less when --timeout is short), so a dead node cannot stall a round.

With -o json or yaml it prints the last round's checks instead:
{"checks":[{"name", "ok", "detail", "nodes"}], "healthy", "nodeName"}
(nodeName is the control plane that evaluated them; empty when cairnctl
evaluated them itself, against a node that predates the Health RPC).`,
		Example: `  cairnctl health
  cairnctl health --wait --wait-timeout 5m
  cairnctl health -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			hw := healthWait{wait: wait, timeout: timeout}
			if g.structured() {
				hw.format = g.output
			}
			_, err = waitHealthy(cmd.Context(), c, g.streams.Out, hw)
			return err
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the cluster is healthy")
	cmd.Flags().DurationVar(&timeout, "wait-timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// healthWait configures waitHealthy.
type healthWait struct {
	// wait re-checks until healthy or timeout; otherwise one round.
	wait    bool
	timeout time.Duration
	// what names the thing waited for in the progress header.
	what string
	// abort, if set, is called after every round; an error ends the wait.
	abort func() error
	// format, if set (json, yaml), prints the last round's answer in it
	// instead of drawing progress.
	format string
}

// waitHealthy runs health rounds, drawing progress on out, and returns the
// last checks with ErrUnhealthy if they did not all pass.
func waitHealthy(ctx context.Context, c *apiClient, out io.Writer, hw healthWait) ([]health.Check, error) {
	if hw.what == "" {
		hw.what = "the cluster to become healthy"
	}
	p := newProgress(out)
	if hw.format != "" {
		p = newProgress(io.Discard)
	}
	start := time.Now()
	deadline := start.Add(hw.timeout)
	for {
		res := fetchHealth(ctx, c)
		checks := health.FromResponse(res)
		done := res.GetHealthy() || !hw.wait || !time.Now().Before(deadline) || ctx.Err() != nil
		lines := checkLines(checks, done)
		if hw.wait && p.tty {
			lines = append([]string{statusLine(hw.what, checks, done, start, hw.timeout)}, lines...)
		}
		p.show(lines)
		if done && hw.format != "" {
			if err := writeData(out, hw.format, protoObject(res)); err != nil {
				return checks, err
			}
		}
		if res.GetHealthy() {
			return checks, nil
		}
		if done && hw.wait {
			return checks, fmt.Errorf("%w after %s", ErrUnhealthy, time.Since(start).Round(time.Second))
		}
		if done {
			return checks, ErrUnhealthy
		}
		if hw.abort != nil {
			if err := hw.abort(); err != nil {
				p.show(checkLines(checks, true))
				return checks, err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(healthPollInterval, time.Until(deadline))):
		}
	}
}
