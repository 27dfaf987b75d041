package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// maxArtifact is the largest artifact a node keeps
// (node/machine/artifacts.DefaultMaxSize, repeated so that cairnctl does
// not link the node runtime).
const maxArtifact int64 = 2 << 30

func newArtifactCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "Upload and list the upgrade artifacts the nodes hold",
		Long: `Manage the artifacts (upgrade bundles) nodes keep by SHA-256 in their
state directory's artifacts/. An artifact uploaded to one node reaches the
others when they need it: each fetches it by digest from a node that holds
it and verifies it before keeping it.`,
		Example: `  cairnctl artifact upload _out/bin/cairnd
  cairnctl -n cp1,worker1 artifact list`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newArtifactUploadCommand(g), newArtifactListCommand(g))
	return cmd
}

func newArtifactUploadCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload an artifact to the endpoint's node (or the one node named)",
		Long: `Upload FILE (at most 2 GiB) to the endpoint's node, or to the one node
named with --nodes. cairnctl sends its size and SHA-256 first; the node
keeps it under that digest only when the bytes match, and answers at once
when it holds it already. Prints the digest, which 'upgrade start' names.
Needs os:admin.

With -o json: {"digest", "size", "stored"} and "alreadyHeld".`,
		Example: `  cairnctl artifact upload _out/bin/cairnd
  cairnctl -n worker1 artifact upload bundle.tar -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runArtifactUpload(cmd.Context(), g, args[0]) },
	}
}

func newArtifactListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the artifacts nodes hold",
		Long:  "List the artifacts of the endpoint's node, or of each node named with --nodes: digest, size, when stored.\n\nWith -o json: {\"artifacts\":[{\"digest\", \"size\", \"stored\"}]} (plus \"node\" with --nodes).",
		Example: `  cairnctl artifact list
  cairnctl -n cp1,worker1 artifact list -o json`,
		Aliases: []string{"ls"},
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			results := fanOut(cmd.Context(), c, t.nodes, func(ctx context.Context, ep endpoint, node string) ([]*upgradev1.Artifact, error) {
				res, err := c.artifactService(ep).List(ctx, request(&upgradev1.ListRequest{}, node))
				if err != nil {
					return nil, err
				}
				return res.Msg.GetArtifacts(), nil
			})
			return renderNodeLists(g, results, len(t.nodes) > 0, "artifacts", []string{"DIGEST", "SIZE", "STORED"}, func(a *upgradev1.Artifact) []string {
				return []string{a.GetDigest(), byteSize(uint64(a.GetSize())), a.GetStored().AsTime().Format(time.RFC3339)}
			})
		},
	}
}

func (c *apiClient) artifactService(ep endpoint) upgradev1connect.ArtifactServiceClient {
	opts := connect.WithClientOptions(connect.WithGRPC(), connect.WithSendMaxBytes(maxRequestBytes))
	return upgradev1connect.NewArtifactServiceClient(&http.Client{Transport: c.transport}, "https://"+ep.addr, opts)
}

func runArtifactUpload(ctx context.Context, g *globals, path string) error {
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	if len(t.nodes) > 1 {
		return fmt.Errorf("%w: upload to one node; the others fetch it from there", ErrUsage)
	}
	node := ""
	if len(t.nodes) == 1 {
		node = t.nodes[0]
	}
	res, info, err := uploadArtifact(ctx, c, node, path)
	if err != nil {
		return err
	}
	if g.structured() {
		obj := protoObject(res.GetArtifact()).(orderedObject)
		return g.printData(obj.with("alreadyHeld", res.GetAlreadyHeld()))
	}
	fmt.Fprintf(g.streams.Out, "%s\n", res.GetArtifact().GetDigest())
	fmt.Fprintln(g.streams.Err, uploadSummary(node, info, res))
	return nil
}

// uploadSummary says what an upload did, for stderr.
func uploadSummary(node string, info archiveInfo, res *upgradev1.UploadResponse) string {
	how := "stored"
	if res.GetAlreadyHeld() {
		how = "already held"
	}
	return fmt.Sprintf("%s: %s %s (%s)", nodeLabel(node), how, info.name, byteSize(uint64(info.size)))
}

// uploadArtifact streams the file at path to node ("": the endpoint's)
// through the first endpoint that answers.
func uploadArtifact(ctx context.Context, c *apiClient, node, path string) (*upgradev1.UploadResponse, archiveInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, archiveInfo{}, fmt.Errorf("open artifact: %w", err)
	}
	defer f.Close()
	info, err := archiveSummary(f, path)
	if err != nil {
		return nil, info, err
	}
	if info.size > maxArtifact {
		return nil, info, fmt.Errorf("%w: %s is %s, a node keeps at most %s", ErrTooLarge, path, byteSize(uint64(info.size)), byteSize(uint64(maxArtifact)))
	}
	var ep endpoint
	err = c.call(ctx, func(ctx context.Context, e endpoint) error {
		ep = e
		_, err := c.artifactService(e).List(ctx, request(&upgradev1.ListRequest{}, node))
		return err
	})
	if err != nil {
		return nil, info, err
	}
	stream := c.artifactService(ep).Upload(ctx)
	if node != "" {
		stream.RequestHeader().Set(headerNode, node)
	}
	msg := &upgradev1.UploadRequest{Start: &upgradev1.UploadStart{Size: info.size, Digest: "sha256:" + info.sha256, Name: info.name}}
	buf := make([]byte, imageChunk)
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			msg.Data = buf[:n]
			if err := stream.Send(msg); err != nil {
				break // the node ended the call: its answer says why
			}
			msg = &upgradev1.UploadRequest{}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			_, _ = stream.CloseAndReceive()
			return nil, info, fmt.Errorf("read artifact: %w", rerr)
		}
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, info, err
	}
	return res.Msg, info, nil
}
