package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"
)

// logTailLines is how many log lines cluster create shows per failing node.
const logTailLines = 20

// logTailBytes bounds how much of a log file is read for its tail.
const logTailBytes = 64 << 10

// printNodeLogs writes the last lines of the named nodes' logs.
func printNodeLogs(ctx context.Context, w io.Writer, p provisioner, st *clusterState, nodes []observedNode, names []string) {
	for _, n := range nodes {
		if !slices.Contains(names, n.Name) {
			continue
		}
		fmt.Fprintf(w, "\n--- %s (%s): last lines of its log ---\n", n.Name, n.describe())
		lines, err := p.logTail(ctx, st, n.nodeState, logTailLines)
		if err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
			continue
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

func newClusterLogsCommand(g *globals) *cobra.Command {
	var (
		loc  clusterLocation
		tail int
	)
	cmd := &cobra.Command{
		Use:   "logs NODE",
		Short: "Print the last lines of a local cluster node's log",
		Long: `Print the last lines of a node's log as its provisioner keeps it: the
log file of its boot stage and cairnd (process), 'docker logs' of its
container (docker), its serial console (qemu). It works when the node's
API does not answer; 'cairnctl logs cairnd' reads the same lines through
the API.`,
		Example: `  cairnctl cluster logs cp1
  cairnctl cluster logs worker1 --tail 200 --name dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := loc.dir()
			if err != nil {
				return err
			}
			st, err := readState(dir)
			if err != nil {
				return err
			}
			nodes, err := pickNodes(st, args, false)
			if err != nil {
				return err
			}
			p, err := provisionerFor(st, provisionerOptions{})
			if err != nil {
				return err
			}
			lines, err := p.logTail(cmd.Context(), st, nodes[0], tail)
			if err != nil {
				return fmt.Errorf("%s: %w", nodes[0].Name, err)
			}
			for _, l := range lines {
				fmt.Fprintln(g.streams.Out, l)
			}
			return nil
		},
	}
	loc.register(cmd)
	cmd.Flags().IntVar(&tail, "tail", 100, "how many last lines to print")
	return cmd
}

// tailFile returns up to n last lines of a file.
func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, fi.Size()-logTailBytes)
	data, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return nil, err
	}
	return lastLines(data, n), nil
}

// lastLines returns up to n last lines of data, without the final newline.
func lastLines(data []byte, n int) []string {
	data = bytes.TrimRight(data, "\n")
	if len(data) == 0 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	lines = lines[max(0, len(lines)-n):]
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out
}
