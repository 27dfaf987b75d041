package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

func newServicesCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "services",
		Short: "List the services a node supervises",
		Long: `List the processes the endpoint's node supervises (etcd, kubelet, ...), or
those of each node named with --nodes: state, health, PID, how often each
was restarted, and since when it is in its state. The list includes
"cairnd", the node itself (running, its own PID), whose log 'cairnctl logs
cairnd' prints; it cannot be restarted through the API.

States: waiting (for dependencies or a start condition), starting (running,
health check not passed yet), running, backoff (waiting to restart),
finished, failed, stopped.

With -o json: {"services":[{"name", "state", "pid", "restarts",
"lastExitCode", "health", "message", "since"}]} (plus "node" with --nodes).`,
		Example: `  cairnctl services
  cairnctl -n cp1,worker1 services
  cairnctl services -o json | jq '.services[] | select(.state != "SERVICE_STATE_RUNNING")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			results := fanOut(cmd.Context(), c, t.nodes, func(ctx context.Context, ep endpoint, node string) (*servicev1.ListResponse, error) {
				res, err := ep.service.List(ctx, request(&servicev1.ListRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			return g.renderServices(g.streams.Out, g.streams.Err, results, len(t.nodes) > 0, time.Now())
		},
	}
}

// renderServices writes the merged answers as a table or as
// {"services":[...]}, tagging each service with the node that answered when
// nodes were named. Failed nodes are reported on errW.
func (g *globals) renderServices(w, errW io.Writer, results []nodeResult[*servicev1.ListResponse], perNode bool, now time.Time) error {
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		services := []any{}
		for _, r := range results {
			for _, s := range r.val.GetServices() {
				obj := protoObject(s).(orderedObject)
				if perNode {
					obj = obj.with("node", r.node)
				}
				services = append(services, obj)
			}
		}
		if err := writeData(w, g.output, orderedObject{{"services", services}}); err != nil {
			return err
		}
		return nodeErrors(errW, results)
	}
	t := newTable("NAME", "STATE", "HEALTH", "PID", "RESTARTS", "SINCE")
	if perNode {
		t.prependColumn("NODE")
	}
	for _, r := range results {
		for _, s := range r.val.GetServices() {
			pid := ""
			if s.GetPid() != 0 {
				pid = strconv.Itoa(int(s.GetPid()))
			}
			row := []string{s.GetName(), enumLabel(s.GetState().String(), "SERVICE_STATE_"), s.GetHealth(),
				pid, strconv.FormatUint(uint64(s.GetRestarts()), 10), serviceAge(s, now)}
			if perNode {
				row = append([]string{r.node}, row...)
			}
			t.add(row...)
		}
	}
	if err := t.write(w); err != nil {
		return err
	}
	return nodeErrors(errW, results)
}

// serviceAge renders how long a service has been in its state.
func serviceAge(s *servicev1.Service, now time.Time) string {
	if s.GetSince() == nil {
		return ""
	}
	return now.Sub(s.GetSince().AsTime()).Round(time.Second).String()
}

func newServiceCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Control the services a node supervises",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newServiceRestartCommand(g))
	return cmd
}

func newServiceRestartCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a service",
		Long: `Restart a service of the endpoint's node, or of each node named with
--nodes: its process gets SIGTERM (SIGKILL after the service's stop timeout)
and is started again at once, whatever its restart policy and backoff. The
command returns once the old process has exited; 'cairnctl services' shows
the new one coming up.`,
		Example: `  cairnctl service restart kubelet
  cairnctl -n worker1,worker2 service restart kubelet`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			name := args[0]
			results := fanOut(cmd.Context(), c, t.nodes, func(ctx context.Context, ep endpoint, node string) (struct{}, error) {
				_, err := ep.service.Restart(ctx, request(&servicev1.RestartRequest{Name: name}, node))
				return struct{}{}, err
			})
			if err := endpointError(results); err != nil {
				return err
			}
			for _, r := range results {
				if r.err != nil {
					continue
				}
				if r.node == "" {
					fmt.Fprintf(g.streams.Out, "restarted %s\n", name)
				} else {
					fmt.Fprintf(g.streams.Out, "%s: restarted %s\n", r.node, name)
				}
			}
			return nodeErrors(g.streams.Err, results)
		},
	}
}

func newLogsCommand(g *globals) *cobra.Command {
	var follow bool
	var tail int32
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a service's logs",
		Long: `Print the combined stdout and stderr of a service of the endpoint's node
(or of the one node named with --nodes), from the node's in-memory buffer
of recent lines. With --follow, keep printing new lines as the service
writes them, across its restarts, until interrupted; --timeout then does not
apply. --tail limits how many buffered lines are printed first (-1: all of
them; 0: none, only new lines with --follow).

NAME "cairnd" is the node's own log (what cairnd writes to stderr, in its
--log-format; the last 5,000 lines or 2 MiB), like 'talosctl logs machined'.
'cairnctl log-level debug' makes it verbose. A follower too slow to keep up
gets a line saying how many lines it lost. An unknown NAME is an error that
lists the names the node has.`,
		Example: `  cairnctl logs etcd
  cairnctl -n worker1 logs kubelet -f --tail 20
  cairnctl -n worker1 logs cairnd --tail 50
  cairnctl -n worker1 log-level debug && cairnctl -n worker1 logs cairnd -f --tail 0`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			node, err := singleNode(t, "logs")
			if err != nil {
				return err
			}
			req := &servicev1.LogsRequest{Name: args[0], Follow: follow}
			if tail >= 0 {
				req.TailLines = &tail
			}
			return streamLogs(cmd.Context(), c, node, req, g.streams.Out)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	cmd.Flags().Int32Var(&tail, "tail", -1, "how many of the last buffered lines to print first; -1 prints all")
	return cmd
}

// streamLogs prints the lines of a Logs stream to w. It tries the endpoints
// in order, like apiClient.call, but moves on only while no line has been
// printed (so no line is printed twice), and bounds the call with the
// request timeout only when not following. Interrupting a follow is not an
// error.
func streamLogs(ctx context.Context, c *apiClient, node string, req *servicev1.LogsRequest, w io.Writer) error {
	var errs []error
	for _, ep := range c.endpoints {
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if !req.GetFollow() {
			sctx, cancel = context.WithTimeout(ctx, c.timeout)
		}
		printed, err := receiveLogs(sctx, ep.service, node, req, w)
		cancel()
		switch {
		case req.GetFollow() && ctx.Err() != nil:
			return nil
		case err == nil || printed || connect.CodeOf(err) != connect.CodeUnavailable || ctx.Err() != nil:
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep.addr, err))
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("no endpoint answered: %w", errors.Join(errs...))
}

// receiveLogs prints one stream's lines and reports whether it printed any.
func receiveLogs(ctx context.Context, sc servicev1connect.ServiceServiceClient, node string, req *servicev1.LogsRequest, w io.Writer) (bool, error) {
	stream, err := sc.Logs(ctx, request(req, node))
	if err != nil {
		return false, err
	}
	defer stream.Close()
	printed := false
	for stream.Receive() {
		for _, line := range stream.Msg().GetLines() {
			printed = true
			if _, err := fmt.Fprintln(w, line); err != nil {
				return true, fmt.Errorf("write log line: %w", err)
			}
		}
	}
	return printed, stream.Err()
}
