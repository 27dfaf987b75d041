package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// severities names syslog priorities as dmesg(1) does.
var severities = [...]string{"emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"}

// facilities names the syslog facilities the kernel uses most.
var facilities = map[uint32]string{0: "kern", 1: "user", 2: "mail", 3: "daemon", 4: "auth", 5: "syslog", 6: "lpr", 7: "news"}

func newDmesgCommand(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "dmesg",
		Short: "Print the kernel's messages of the endpoint's node or of each node named",
		Long: `Print the kernel's message buffer (/dev/kmsg) of each node, oldest first:
time since boot, facility and severity, and text. With --follow, keep
printing new messages until interrupted; --timeout then does not apply.
With several nodes each line starts with the node's name. Needs os:reader.

A node that cannot read /dev/kmsg (process mode run by a user while the
kernel restricts dmesg, a container without /dev/kmsg) fails with
FailedPrecondition saying so.

With -o json (not with --follow):
{"nodes":[{"nodeName", "messages":[KernelMessage...]}]}.`,
		Example: `  cairnctl -n worker1 dmesg
  cairnctl -n cp1,cp2 dmesg --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if follow && g.structured() {
				return fmt.Errorf("%w: --follow prints lines; -o %s is for the buffer without --follow", ErrUsage, g.output)
			}
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if follow {
				return followDmesg(cmd.Context(), g, c, t.nodes)
			}
			return printDmesg(cmd.Context(), g, c, t.nodes)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new messages until interrupted")
	return cmd
}

// dmesgResult is one node's buffer.
type dmesgResult struct {
	nodeName string
	messages []*machinev1.KernelMessage
}

// printDmesg reads each node's buffer to its end and prints them in node
// order.
func printDmesg(ctx context.Context, g *globals, c *apiClient, nodes []string) error {
	results := fanOut(ctx, c, nodes, func(ctx context.Context, ep endpoint, node string) (dmesgResult, error) {
		r := dmesgResult{nodeName: nodeLabel(node)}
		_, err := receiveDmesg(ctx, ep, node, false, func(name string, m *machinev1.KernelMessage) error {
			r.nodeName = name
			r.messages = append(r.messages, m)
			return nil
		})
		return r, err
	})
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		out := []any{}
		for _, r := range results {
			if r.err != nil {
				continue
			}
			msgs := []any{}
			for _, m := range r.val.messages {
				msgs = append(msgs, protoObject(m))
			}
			out = append(out, orderedObject{{"nodeName", r.val.nodeName}, {"messages", msgs}})
		}
		if err := g.printData(orderedObject{{"nodes", out}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	for _, r := range results {
		for _, m := range r.val.messages {
			if err := writeKernelMessage(g.streams.Out, prefix(nodes, r.node), m); err != nil {
				return err
			}
		}
	}
	return nodeErrors(g.streams.Err, results)
}

// followDmesg streams every node's messages until ctx ends; a node whose
// stream fails is reported and the others go on.
func followDmesg(ctx context.Context, g *globals, c *apiClient, nodes []string) error {
	if len(nodes) == 0 {
		nodes = []string{""}
	}
	var mu sync.Mutex
	results := make([]nodeResult[struct{}], len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		results[i].node = node
		wg.Go(func() {
			err := followOne(ctx, c, node, func(_ string, m *machinev1.KernelMessage) error {
				mu.Lock()
				defer mu.Unlock()
				return writeKernelMessage(g.streams.Out, prefix(nodes, node), m)
			})
			if ctx.Err() == nil {
				results[i].err = err
			}
		})
	}
	wg.Wait()
	return nodeErrors(g.streams.Err, results)
}

// followOne follows one node's messages through the first endpoint that
// answers: it moves to the next only on Unavailable and while nothing was
// printed, so no message is printed twice (streamLogs' rule).
func followOne(ctx context.Context, c *apiClient, node string, fn func(string, *machinev1.KernelMessage) error) error {
	var errs []error
	for _, ep := range c.endpoints {
		printed, err := receiveDmesg(ctx, ep, node, true, fn)
		if err == nil || printed || connect.CodeOf(err) != connect.CodeUnavailable || ctx.Err() != nil {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep.addr, err))
	}
	return fmt.Errorf("no endpoint answered: %w", errors.Join(errs...))
}

// receiveDmesg calls Dmesg on one node and hands each message, with the
// answering node's name, to fn; it reports whether it handed any. A follow
// that ends because ctx did is not an error.
func receiveDmesg(ctx context.Context, ep endpoint, node string, follow bool, fn func(string, *machinev1.KernelMessage) error) (bool, error) {
	stream, err := ep.machine.Dmesg(ctx, request(&machinev1.DmesgRequest{Follow: follow}, node))
	if err != nil {
		return false, err
	}
	defer stream.Close()
	got := false
	for stream.Receive() {
		for _, m := range stream.Msg().GetMessages() {
			got = true
			if err := fn(stream.Msg().GetNodeName(), m); err != nil {
				return got, err
			}
		}
	}
	if err := stream.Err(); err != nil && !(follow && ctx.Err() != nil) {
		return got, err
	}
	return got, nil
}

// prefix is the line prefix for node's messages: its name when several
// nodes are printed.
func prefix(nodes []string, node string) string {
	if len(nodes) > 1 {
		return node + ": "
	}
	return ""
}

// writeKernelMessage prints one message as dmesg(1) does, with the
// facility and severity in front: "[    5.140900] kern.info: text".
func writeKernelMessage(w io.Writer, prefix string, m *machinev1.KernelMessage) error {
	fac, ok := facilities[m.GetFacility()]
	if !ok {
		fac = fmt.Sprintf("local%d", int(m.GetFacility())-16)
		if m.GetFacility() < 16 {
			fac = fmt.Sprintf("fac%d", m.GetFacility())
		}
	}
	sev := "debug"
	if p := m.GetPriority(); p < uint32(len(severities)) {
		sev = severities[p]
	}
	since := m.GetSinceBoot().AsDuration()
	_, err := fmt.Fprintf(w, "%s[%5d.%06d] %s.%s: %s\n", prefix, int64(since.Seconds()), since.Microseconds()%1_000_000, fac, sev, m.GetMessage())
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
