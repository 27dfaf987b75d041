package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// machineCall fans one MachineService call out to the target nodes.
func machineCall[T any](ctx context.Context, g *globals, call func(context.Context, endpoint, string) (T, error)) ([]nodeResult[T], error) {
	c, t, err := g.client()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return fanOut(ctx, c, t.nodes, call), nil
}

func newPsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ps",
		Short: "List the processes of the endpoint's node or of each node named",
		Long: `List processes from the node's /proc: pid, parent, state, resident
memory, CPU time and command line. A node in process mode lists only its
cairnd and what cairnd started (scope "cairnd"), not the host's other
processes. Needs os:reader.

With -o json: {"nodes":[ProcessesResponse...]}.`,
		Example: `  cairnctl -n worker1 ps
  cairnctl -n cp1,worker1 ps -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := machineCall(cmd.Context(), g, func(ctx context.Context, ep endpoint, node string) (*machinev1.ProcessesResponse, error) {
				res, err := ep.machine.Processes(ctx, request(&machinev1.ProcessesRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderRows(g, results, []string{"NODE", "PID", "PPID", "STATE", "RSS", "CPU", "COMMAND"}, func(r *machinev1.ProcessesResponse) [][]string {
				var rows [][]string
				for _, p := range r.GetProcesses() {
					cmdline := strings.Join(p.GetArgs(), " ")
					if cmdline == "" {
						cmdline = "[" + p.GetCommand() + "]"
					}
					rows = append(rows, []string{r.GetNodeName(), strconv.Itoa(int(p.GetPid())), strconv.Itoa(int(p.GetPpid())), p.GetState(),
						byteSize(p.GetRssBytes()), (time.Duration(p.GetCpuTimeMillis()) * time.Millisecond).String(), cmdline}) // CPU ms fit
				}
				return rows
			})
		},
	}
}

func newMountsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mounts",
		Short: "List the mounts of cairnd's mount namespace on each node",
		Long: `List the mounts cairnd sees (its own mount namespace, from
/proc/self/mountinfo): source, mount point, filesystem type, options and
whether it is read-only. Needs os:reader.

With -o json: {"nodes":[MountsResponse...]}.`,
		Example: `  cairnctl -n worker1 mounts`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := machineCall(cmd.Context(), g, func(ctx context.Context, ep endpoint, node string) (*machinev1.MountsResponse, error) {
				res, err := ep.machine.Mounts(ctx, request(&machinev1.MountsRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderRows(g, results, []string{"NODE", "SOURCE", "MOUNTPOINT", "TYPE", "RO", "OPTIONS"}, func(r *machinev1.MountsResponse) [][]string {
				var rows [][]string
				for _, m := range r.GetMounts() {
					rows = append(rows, []string{r.GetNodeName(), orDash(m.GetSource()), m.GetMountPoint(), m.GetFsType(),
						strconv.FormatBool(m.GetReadOnly()), strings.Join(m.GetOptions(), ",")})
				}
				return rows
			})
		},
	}
}

func newDisksCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "disks",
		Short: "List the block devices of each node",
		Long: `List the node's block devices (/sys/block): name, size, model and serial
where the kernel reports them, and whether it is read-only. Needs os:reader.

With -o json: {"nodes":[DisksResponse...]}.`,
		Example: `  cairnctl -n worker1 disks`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := machineCall(cmd.Context(), g, func(ctx context.Context, ep endpoint, node string) (*machinev1.DisksResponse, error) {
				res, err := ep.machine.Disks(ctx, request(&machinev1.DisksRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderRows(g, results, []string{"NODE", "NAME", "SIZE", "RO", "MODEL", "SERIAL"}, func(r *machinev1.DisksResponse) [][]string {
				var rows [][]string
				for _, d := range r.GetDisks() {
					rows = append(rows, []string{r.GetNodeName(), d.GetName(), byteSize(d.GetSizeBytes()),
						strconv.FormatBool(d.GetReadOnly()), orDash(d.GetModel()), orDash(d.GetSerial())})
				}
				return rows
			})
		},
	}
}

func newLsCommand(g *globals) *cobra.Command {
	var depth uint32
	cmd := &cobra.Command{
		Use:   "ls PATH",
		Short: "List a directory on each node",
		Long: `List a directory (or describe one file) on the node: mode, size,
modification time and path. PATH must be absolute and clean. --depth N
descends N levels of subdirectories too; symbolic links are not followed.
Needs os:admin.

With -o json: {"nodes":[ListResponse...]}.`,
		Example: `  cairnctl -n worker1 ls /var/lib/cairn
  cairnctl -n worker1 ls /etc --depth 1 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := machineCall(cmd.Context(), g, func(ctx context.Context, ep endpoint, node string) (*machinev1.ListResponse, error) {
				res, err := ep.machine.List(ctx, request(&machinev1.ListRequest{Path: args[0], Depth: depth}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg, nil
			})
			if err != nil {
				return err
			}
			return renderRows(g, results, []string{"NODE", "MODE", "SIZE", "MODIFIED", "PATH"}, func(r *machinev1.ListResponse) [][]string {
				var rows [][]string
				for _, e := range r.GetEntries() {
					rows = append(rows, []string{r.GetNodeName(), e.GetMode(), strconv.FormatUint(e.GetSizeBytes(), 10),
						e.GetMtime().AsTime().UTC().Format(time.RFC3339), e.GetPath()})
				}
				if r.GetTruncated() {
					rows = append(rows, []string{r.GetNodeName(), "-", "-", "-", "(listing truncated)"})
				}
				return rows
			})
		},
	}
	cmd.Flags().Uint32Var(&depth, "depth", 0, "levels of subdirectories to descend")
	return cmd
}

// readResult is one node's answer to read.
type readResult struct {
	nodeName  string
	data      []byte
	truncated bool
}

func newReadCommand(g *globals) *cobra.Command {
	var limit uint64
	cmd := &cobra.Command{
		Use:   "read PATH",
		Short: "Print a file of each node",
		Long: `Print a file of the node, up to --limit bytes (default 1 MiB, at most
64 MiB); a file cut at the limit is reported on stderr. PATH must be
absolute and clean. With several nodes each file is headed by
"==> NODE <==". Needs os:admin.

With -o json: {"nodes":[{"nodeName", "content", "truncated"}]}.`,
		Example: `  cairnctl -n worker1 read /etc/os-release
  cairnctl -n cp1,cp2 read /proc/loadavg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := machineCall(cmd.Context(), g, func(ctx context.Context, ep endpoint, node string) (readResult, error) {
				return readFile(ctx, ep, node, &machinev1.ReadRequest{Path: args[0], LimitBytes: limit})
			})
			if err != nil {
				return err
			}
			return renderRead(g, results)
		},
	}
	cmd.Flags().Uint64Var(&limit, "limit", 0, "most bytes to read (0: the node's default, 1 MiB)")
	return cmd
}

func readFile(ctx context.Context, ep endpoint, node string, req *machinev1.ReadRequest) (readResult, error) {
	stream, err := ep.machine.Read(ctx, request(req, node))
	if err != nil {
		return readResult{}, err
	}
	defer stream.Close()
	r := readResult{nodeName: nodeLabel(node)}
	for stream.Receive() {
		r.data = append(r.data, stream.Msg().GetData()...)
		r.truncated = r.truncated || stream.Msg().GetTruncated()
	}
	if err := stream.Err(); err != nil {
		return readResult{}, err
	}
	return r, nil
}

func renderRead(g *globals, results []nodeResult[readResult]) error {
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		nodes := []any{}
		for _, r := range results {
			if r.err == nil {
				nodes = append(nodes, orderedObject{{"nodeName", r.val.nodeName}, {"content", string(r.val.data)}, {"truncated", r.val.truncated}})
			}
		}
		if err := g.printData(orderedObject{{"nodes", nodes}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		if len(results) > 1 {
			fmt.Fprintf(g.streams.Out, "==> %s <==\n", r.val.nodeName)
		}
		if _, err := g.streams.Out.Write(r.val.data); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if r.val.truncated {
			fmt.Fprintf(g.streams.Err, "%s: truncated at %d bytes (raise --limit)\n", r.val.nodeName, len(r.val.data))
		}
	}
	return nodeErrors(g.streams.Err, results)
}

// renderRows prints the nodes' answers as {"nodes":[...]} or as one table
// of every node's rows, and reports failed nodes on stderr.
func renderRows[T proto.Message](g *globals, results []nodeResult[T], header []string, rows func(T) [][]string) error {
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		nodes := []any{}
		for _, r := range results {
			if r.err == nil {
				nodes = append(nodes, protoObject(r.val))
			}
		}
		if err := g.printData(orderedObject{{"nodes", nodes}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	t := newTable(header...)
	for _, r := range results {
		if r.err == nil {
			for _, row := range rows(r.val) {
				t.add(row...)
			}
		}
	}
	if err := t.write(g.streams.Out); err != nil {
		return err
	}
	return nodeErrors(g.streams.Err, results)
}

// byteSize is n in binary units, as ls -h prints it.
func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
