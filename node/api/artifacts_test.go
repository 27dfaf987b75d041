package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/artifacts"
	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

func artifactClient(t *testing.T, opts api.Options) func(role string) upgradev1connect.ArtifactServiceClient {
	addr, client := tlsAPI(t, opts)
	return func(role string) upgradev1connect.ArtifactServiceClient {
		return upgradev1connect.NewArtifactServiceClient(client(role), "https://"+addr, connect.WithGRPC())
	}
}

func uploadArtifact(ctx context.Context, c upgradev1connect.ArtifactServiceClient, start *upgradev1.UploadStart, data []byte, chunk int) (*upgradev1.UploadResponse, error) {
	s := c.Upload(ctx)
	msg := &upgradev1.UploadRequest{Start: start}
	for off := 0; off < len(data) || msg.Start != nil; off += chunk {
		msg.Data = data[off:min(off+chunk, len(data))]
		if err := s.Send(msg); err != nil {
			break
		}
		msg = &upgradev1.UploadRequest{}
	}
	res, err := s.CloseAndReceive()
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// An artifact uploaded in chunks is kept under its digest only when it
// matches, downloads byte for byte, and lists; readers download and list
// but do not upload.
func TestArtifacts(t *testing.T) {
	noLeaks(t)
	dir := filepath.Join(t.TempDir(), "artifacts")
	client := artifactClient(t, api.Options{Artifacts: &artifacts.Store{Dir: dir, MaxSize: 4 << 20}})
	admin, reader := client(config.APIRoleAdmin), client(config.APIRoleReader)
	ctx := t.Context()
	data := bytes.Repeat([]byte("cairnd v2 "), 100_000) // 1 MB: several download chunks
	d := sha256Digest(data)

	_, err := uploadArtifact(ctx, reader, &upgradev1.UploadStart{Size: int64(len(data)), Digest: d}, data, 64<<10)
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
	_, err = uploadArtifact(ctx, admin, &upgradev1.UploadStart{Size: int64(len(data)), Digest: sha256Digest([]byte("v3"))}, data, 64<<10)
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	assert.ErrorContains(t, err, "artifact does not match its digest")
	_, err = uploadArtifact(ctx, admin, &upgradev1.UploadStart{Size: int64(len(data)) + 1, Digest: d}, data, 64<<10)
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	_, err = uploadArtifact(ctx, admin, &upgradev1.UploadStart{Size: 8 << 20, Digest: d}, data, 64<<10)
	assert.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err))
	_, err = uploadArtifact(ctx, admin, &upgradev1.UploadStart{Size: int64(len(data)), Digest: "sha256:ABC"}, data, 64<<10)
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	_, err = uploadArtifact(ctx, admin, nil, data, 64<<10)
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "nothing refused was kept")

	res, err := uploadArtifact(ctx, admin, &upgradev1.UploadStart{Size: int64(len(data)), Digest: d, Name: "cairnd"}, data, 100_003)
	require.NoError(t, err)
	assert.Equal(t, d, res.GetArtifact().GetDigest())
	assert.False(t, res.GetAlreadyHeld())
	res, err = uploadArtifact(ctx, admin, &upgradev1.UploadStart{Size: int64(len(data)), Digest: d}, data, 1<<20)
	require.NoError(t, err)
	assert.True(t, res.GetAlreadyHeld())

	stream, err := reader.Download(ctx, connect.NewRequest(&upgradev1.DownloadRequest{Digest: d}))
	require.NoError(t, err)
	var got []byte
	var size int64
	for stream.Receive() {
		if stream.Msg().GetSize() != 0 {
			size = stream.Msg().GetSize()
		}
		got = append(got, stream.Msg().GetData()...)
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, int64(len(data)), size)
	assert.Equal(t, data, got)

	stream, err = reader.Download(ctx, connect.NewRequest(&upgradev1.DownloadRequest{Digest: sha256Digest([]byte("absent"))}))
	require.NoError(t, err)
	for stream.Receive() {
	}
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(stream.Err()))

	list, err := reader.List(ctx, connect.NewRequest(&upgradev1.ListRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.GetArtifacts(), 1)
	assert.Equal(t, int64(len(data)), list.Msg.GetArtifacts()[0].GetSize())
}
