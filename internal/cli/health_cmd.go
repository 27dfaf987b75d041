package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// healthPollInterval is the pause between health rounds while waiting.
const healthPollInterval = 500 * time.Millisecond

func newHealthCommand(g *globals) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the cluster is healthy",
		Long: `Check the cluster through the endpoint:

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
--timeout bounds each request of a round.`,
		Example: `  cairnctl health
  cairnctl health --wait --wait-timeout 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = waitHealthy(cmd.Context(), c, g.streams.Out, healthWait{wait: wait, timeout: timeout})
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
}

// waitHealthy runs health rounds, drawing progress on out, and returns the
// last checks with ErrUnhealthy if they did not all pass.
func waitHealthy(ctx context.Context, c *apiClient, out io.Writer, hw healthWait) ([]check, error) {
	if hw.what == "" {
		hw.what = "the cluster to become healthy"
	}
	p := newProgress(out)
	start := time.Now()
	deadline := start.Add(hw.timeout)
	for {
		checks := evaluate(observe(ctx, c))
		done := healthy(checks) || !hw.wait || !time.Now().Before(deadline) || ctx.Err() != nil
		lines := checkLines(checks, done)
		if hw.wait && p.tty {
			lines = append([]string{statusLine(hw.what, checks, done, start, hw.timeout)}, lines...)
		}
		p.show(lines)
		if healthy(checks) {
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
