package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
)

// errSnapshotIncomplete is returned when a snapshot stream ends without
// its summary (the node stopped midway).
var errSnapshotIncomplete = errors.New("the snapshot stream ended before the snapshot was complete")

func newEtcdSnapshotCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "snapshot FILE",
		Short: "Save a snapshot of the etcd database to a local file",
		Long: `Stream a point-in-time snapshot of the etcd database from the member of the
endpoint's node (or of the one node named) into FILE, and print its size
and revision. The snapshot is etcd's own format with its checksum, which
'etcdutl snapshot restore' reads and the disaster recovery of a Cairn
cluster starts from.

The bytes go to FILE.part first (mode 0600: the snapshot holds every
secret stored in etcd), which is synced and renamed to FILE once the node
says the snapshot is complete; a failed or interrupted snapshot leaves no
FILE. On a terminal the bytes received so far are shown. --timeout does not
apply (a large database takes a while); interrupt to stop. Needs os:admin.

The revision is the store's revision as the snapshot started: writes racing
with its start can make it higher than the snapshot's last write.

With -o json: {"path", "size", "revision", "version"}.`,
		Example: `  cairnctl -n cp1 etcd snapshot etcd.snapshot`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			node, err := singleNode(t, "etcd snapshot")
			if err != nil {
				return err
			}
			path := args[0]
			sum, err := saveSnapshot(cmd.Context(), c, node, path, g.streams.Err)
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(orderedObject{{"path", path}, {"size", sum.GetSize()}, {"revision", sum.GetRevision()}, {"version", sum.GetVersion()}})
			}
			fmt.Fprintf(g.streams.Out, "etcd snapshot saved to %s: %d bytes (%s), revision %d, etcd %s\n",
				path, sum.GetSize(), byteSize(uint64(max(sum.GetSize(), 0))), sum.GetRevision(), orDash(sum.GetVersion()))
			return nil
		},
	}
}

// saveSnapshot streams the snapshot into path.part and renames it to path
// once complete, trying the endpoints in order until one starts sending
// (streamLogs' rule: never after bytes were written).
func saveSnapshot(ctx context.Context, c *apiClient, node, path string, progressW io.Writer) (*etcdv1.SnapshotSummary, error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create snapshot file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(part)
		}
	}()
	var sum *etcdv1.SnapshotSummary
	var errs []error
	for _, ep := range c.endpoints {
		var written int64
		sum, written, err = receiveSnapshot(ctx, c, ep, node, f, newProgress(progressW))
		if err == nil || written > 0 || connect.CodeOf(err) != connect.CodeUnavailable || ctx.Err() != nil {
			break
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep.addr, err))
	}
	if err != nil {
		if len(errs) > 1 {
			return nil, fmt.Errorf("no endpoint answered: %w", errors.Join(errs...))
		}
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync %s: %w", part, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w", part, err)
	}
	done = true
	if err := os.Rename(part, path); err != nil {
		_ = os.Remove(part)
		return nil, fmt.Errorf("rename %s: %w", part, err)
	}
	// The rename lasts only once the directory is synced too.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return sum, nil
}

// progressEvery is how often the received size is redrawn on a terminal.
const progressEvery = 200 * time.Millisecond

// receiveSnapshot writes one stream's chunks to f and returns the summary
// and how many bytes it wrote. A stream that ends without a summary, or
// with a size other than what arrived, is an error.
func receiveSnapshot(ctx context.Context, c *apiClient, ep endpoint, node string, f *os.File, p *progress) (*etcdv1.SnapshotSummary, int64, error) {
	stream, err := c.etcdService(ep).Snapshot(ctx, request(&etcdv1.SnapshotRequest{}, node))
	if err != nil {
		return nil, 0, err
	}
	defer stream.Close()
	var written int64
	var sum *etcdv1.SnapshotSummary
	last := time.Now()
	for stream.Receive() {
		msg := stream.Msg()
		if len(msg.GetData()) > 0 {
			n, err := f.Write(msg.GetData())
			written += int64(n)
			if err != nil {
				return nil, written, fmt.Errorf("write snapshot: %w", err)
			}
		}
		if msg.GetSummary() != nil {
			sum = msg.GetSummary()
		}
		if p.tty && time.Since(last) >= progressEvery {
			p.show([]string{"receiving etcd snapshot: " + byteSize(uint64(written))})
			last = time.Now()
		}
	}
	if p.tty {
		p.show([]string{"received etcd snapshot: " + byteSize(uint64(written))})
	}
	if err := stream.Err(); err != nil {
		return nil, written, err
	}
	if sum == nil {
		return nil, written, fmt.Errorf("%w (%d bytes received)", errSnapshotIncomplete, written)
	}
	if sum.GetSize() != written {
		return nil, written, fmt.Errorf("%w: the node sent %d bytes, received %d", errSnapshotIncomplete, sum.GetSize(), written)
	}
	return sum, written, nil
}
