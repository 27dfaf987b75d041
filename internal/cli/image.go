package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
)

// maxImageArchive is the largest archive a node imports
// (node/api.MaxImageArchiveBytes, repeated so that cairnctl does not link
// the node runtime): a larger one is refused before anything is sent.
const maxImageArchive int64 = 4 << 30

// imageChunk is the size of each uploaded piece, well under the node's
// message limit (MaxRequestBytes, 4 MiB and some).
const imageChunk = 1 << 20

func newImageCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Import and list the container images of the nodes' containerd",
		Long: `Manage the images of each node's container runtime (containerd, namespace
k8s.io, where kubelet finds them), as 'kind load image-archive' does for a
kind cluster: no registry is needed, and pods run an imported image with
imagePullPolicy: Never (or IfNotPresent).

Nodes of the docker and qemu provisioners run containerd; nodes of the
process provisioner run none and refuse (failed_precondition).`,
		Example: `  docker save -o app.tar registry.example/app:v1
  cairnctl image import app.tar                 # the context's nodes
  cairnctl -n worker1,worker2 image import app.tar
  cairnctl -n worker1 image list`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newImageImportCommand(g), newImageListCommand(g))
	return cmd
}

func newImageImportCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Import the images of an OCI or docker archive into nodes' containerd",
		Long: `Upload FILE, a tar archive of images in OCI image layout (what
rootfs/images and 'docker buildx build --output type=oci' write) or as
'docker save' writes it, to each node named with --nodes (else the
context's nodes, else the endpoint's own node), which imports every image
and platform it holds into containerd's namespace k8s.io under the names
the archive gives them. A name that exists is replaced.

The archive is at most 4 GiB. cairnctl sends its size and SHA-256 first;
the node checks both before importing, and removes the upload whatever
the outcome. The nodes are done one after another, each through the
endpoint (which relays the upload to the node named): every upload
crosses the endpoint's link, so uploading to several nodes at once would
finish no sooner, and one at a time reports each node as it is done. A
node that fails does not stop the others. Needs os:admin.

With -o json: {"images":[{"node", "ref", "digest", "size", "platforms",
"mediaType"}]}, the images each node imported.`,
		Example: `  cairnctl image import app.tar
  cairnctl -n worker1 image import app.tar -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runImageImport(cmd.Context(), g, args[0]) },
	}
}

func newImageListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the images of nodes' containerd",
		Long: `List the images in containerd's namespace k8s.io (what kubelet runs
without pulling) of the endpoint's node, or of each node named with
--nodes: reference, digest, size (as containerd reports it, rounded) and
platforms.

With -o json: {"images":[{"ref", "digest", "size", "platforms",
"mediaType"}]} (plus "node" with --nodes).`,
		Example: `  cairnctl image list
  cairnctl -n cp1,worker1 image list -o yaml`,
		Aliases: []string{"ls"},
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			results := fanOut(cmd.Context(), c, t.nodes, func(ctx context.Context, ep endpoint, node string) ([]*kubernetesv1.Image, error) {
				return listImages(ctx, c, ep, node)
			})
			return g.renderImages(results, len(t.nodes) > 0)
		},
	}
}

func listImages(ctx context.Context, c *apiClient, ep endpoint, node string) ([]*kubernetesv1.Image, error) {
	res, err := c.kubernetesService(ep).ListImages(ctx, request(&kubernetesv1.ListImagesRequest{}, node))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetImages(), nil
}

// archiveInfo is what the start of an upload says about the file.
type archiveInfo struct {
	name, sha256 string
	size         int64
}

func runImageImport(ctx context.Context, g *globals, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	info, err := archiveSummary(f, path)
	if err != nil {
		return err
	}
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	nodes := t.nodes
	if len(nodes) == 0 {
		nodes = []string{""}
	}
	results := make([]nodeResult[[]*kubernetesv1.Image], 0, len(nodes))
	for _, node := range nodes {
		imgs, err := importTo(ctx, c, node, f, info, newProgress(g.streams.Err))
		results = append(results, nodeResult[[]*kubernetesv1.Image]{node: node, val: imgs, err: err})
		if err == nil && !g.structured() {
			fmt.Fprintf(g.streams.Err, "%s: imported %d images from %s\n", nodeLabel(node), len(imgs), info.name)
		}
	}
	return g.renderImages(results, len(t.nodes) > 0)
}

// archiveSummary checks the file's size and reads its SHA-256, leaving f
// at its start.
func archiveSummary(f *os.File, path string) (archiveInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return archiveInfo{}, fmt.Errorf("open archive: %w", err)
	}
	switch {
	case st.Size() == 0:
		return archiveInfo{}, fmt.Errorf("%w: %s", ErrEmptyFile, path)
	case st.Size() > maxImageArchive:
		return archiveInfo{}, fmt.Errorf("%w: %s is %s, a node imports at most %s", ErrTooLarge, path, byteSize(uint64(st.Size())), byteSize(uint64(maxImageArchive)))
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return archiveInfo{}, fmt.Errorf("read archive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return archiveInfo{}, fmt.Errorf("read archive: %w", err)
	}
	return archiveInfo{name: filepath.Base(path), sha256: hex.EncodeToString(h.Sum(nil)), size: st.Size()}, nil
}

// importTo uploads the archive to one node. A ListImages first picks an
// endpoint that answers (c.call moves past unavailable ones) and finds a
// node that cannot import (process mode) before any byte is sent; the
// upload itself goes through that endpoint and is not bounded by
// --timeout, nor retried elsewhere (a retry would send the whole archive
// again).
func importTo(ctx context.Context, c *apiClient, node string, f io.ReadSeeker, info archiveInfo, p *progress) ([]*kubernetesv1.Image, error) {
	var ep endpoint
	err := c.call(ctx, func(ctx context.Context, e endpoint) error {
		ep = e
		_, err := listImages(ctx, c, e, node)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	stream := c.kubernetesService(ep).ImportImages(ctx)
	if node != "" {
		stream.RequestHeader().Set(headerNode, node)
	}
	msg := &kubernetesv1.ImportImagesRequest{Start: &kubernetesv1.ImportImagesStart{Size: info.size, Sha256: info.sha256, Name: info.name}}
	buf := make([]byte, imageChunk)
	var sent int64
	last := time.Time{}
	where := nodeLabel(node)
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			msg.Data = buf[:n]
			if err := stream.Send(msg); err != nil {
				// The node ended the call (a refusal): its answer says why.
				break
			}
			sent += int64(n)
			msg = &kubernetesv1.ImportImagesRequest{}
		}
		if p.tty && time.Since(last) >= progressEvery {
			p.show([]string{fmt.Sprintf("uploading %s to %s: %s of %s", info.name, where, byteSize(uint64(sent)), byteSize(uint64(info.size)))})
			last = time.Now()
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			_, _ = stream.CloseAndReceive()
			return nil, fmt.Errorf("read archive: %w", rerr)
		}
	}
	if p.tty {
		p.show([]string{fmt.Sprintf("uploaded %s to %s (%s), importing", info.name, where, byteSize(uint64(sent)))})
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, err
	}
	return res.Msg.GetImages(), nil
}

// renderImages writes per-node image lists as a table (NODE first when
// nodes were named) or as {"images":[...]}; failed nodes are reported on
// standard error.
func (g *globals) renderImages(results []nodeResult[[]*kubernetesv1.Image], perNode bool) error {
	return renderNodeLists(g, results, perNode, "images", []string{"REF", "DIGEST", "SIZE", "PLATFORMS"}, func(i *kubernetesv1.Image) []string {
		size := ""
		if i.GetSize() > 0 {
			size = byteSize(uint64(i.GetSize()))
		}
		return []string{i.GetRef(), shortDigest(i.GetDigest()), size, strings.Join(i.GetPlatforms(), ",")}
	})
}

// renderNodeLists writes each node's list of messages as a table of
// header's columns (row renders one message; NODE first when nodes were
// named) or as {key:[...]} with "node" in each object when nodes were
// named; failed nodes are reported on standard error.
func renderNodeLists[T proto.Message](g *globals, results []nodeResult[[]T], perNode bool, key string, header []string, row func(T) []string) error {
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		list := []any{}
		for _, r := range results {
			for _, m := range r.val {
				obj := protoObject(m).(orderedObject)
				if perNode {
					obj = obj.with("node", r.node)
				}
				list = append(list, obj)
			}
		}
		if err := g.printData(orderedObject{{key, list}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	t := newTable(header...)
	if perNode {
		t.prependColumn("NODE")
	}
	for _, r := range results {
		for _, m := range r.val {
			cells := row(m)
			if perNode {
				cells = append([]string{r.node}, cells...)
			}
			t.add(cells...)
		}
	}
	if err := t.write(g.streams.Out); err != nil {
		return err
	}
	return nodeErrors(g.streams.Err, results)
}

// shortDigest is a digest's algorithm and first 12 hex digits, as docker
// shows image IDs; -o json has the whole digest.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12]
}
