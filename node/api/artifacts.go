package api

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/node/machine/artifacts"
	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// downloadChunk is the size of a Download message: well under the API's
// message limit.
const downloadChunk = 256 << 10

// artifactService serves cairn.upgrade.v1.ArtifactService from the node's
// artifact store.
type artifactService struct {
	store *artifacts.Store
	s     *Server
}

var _ upgradev1connect.ArtifactServiceHandler = (*artifactService)(nil)

// errNoStart answers an upload stream whose first message has no start (a
// new error each time: a *connect.Error carries per-call metadata).
func errNoStart() error {
	return connect.NewError(connect.CodeInvalidArgument, errors.New("the first message must carry start"))
}

// firstMessage receives the first message of an upload stream (Upload,
// ImportImages, Recover); a stream that ends before one is
// invalid_argument.
func firstMessage[T any](stream *connect.ClientStream[T]) (*T, error) {
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, err
		}
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the stream carried no message"))
	}
	return stream.Msg(), nil
}

// errNoArtifacts is what a node without a store answers.
var errNoArtifacts = errors.New("this node keeps no artifacts")

// Upload implements cairn.upgrade.v1.ArtifactService. The start is checked
// before a byte is stored; the upload is kept only once its size and
// digest match.
func (a *artifactService) Upload(ctx context.Context, stream *connect.ClientStream[upgradev1.UploadRequest]) (*connect.Response[upgradev1.UploadResponse], error) {
	if a.store == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoArtifacts)
	}
	first, err := firstMessage(stream)
	if err != nil {
		return nil, err
	}
	start := first.GetStart()
	if start == nil {
		return nil, errNoStart()
	}
	if _, err := artifacts.ParseDigest(start.GetDigest()); err != nil {
		return nil, artifactError(err)
	}
	if err := a.store.CheckSize(start.GetSize()); err != nil {
		return nil, artifactError(err)
	}
	info, held, err := a.store.Put(&uploadReader{buf: first.GetData(), stream: stream}, start.GetSize(), start.GetDigest())
	if err != nil {
		if serr := stream.Err(); serr != nil {
			return nil, serr
		}
		return nil, artifactError(err)
	}
	a.s.log.Info("artifact stored", "caller", callerFrom(ctx).subject(), "name", start.GetName(),
		"digest", info.Digest, "size", info.Size, "already_held", held)
	return connect.NewResponse(&upgradev1.UploadResponse{Artifact: artifactMessage(info), AlreadyHeld: held}), nil
}

// uploadReader reads an Upload stream's chunks as one byte stream.
type uploadReader struct {
	buf    []byte
	stream *connect.ClientStream[upgradev1.UploadRequest]
	done   bool
}

func (u *uploadReader) Read(p []byte) (int, error) {
	for len(u.buf) == 0 {
		if u.done || !u.stream.Receive() {
			u.done = true
			if err := u.stream.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		u.buf = u.stream.Msg().GetData()
	}
	n := copy(p, u.buf)
	u.buf = u.buf[n:]
	return n, nil
}

// Download implements cairn.upgrade.v1.ArtifactService.
func (a *artifactService) Download(ctx context.Context, req *connect.Request[upgradev1.DownloadRequest], stream *connect.ServerStream[upgradev1.DownloadResponse]) error {
	if a.store == nil {
		return connect.NewError(connect.CodeFailedPrecondition, errNoArtifacts)
	}
	f, info, err := a.store.Open(req.Msg.GetDigest())
	if err != nil {
		return artifactError(err)
	}
	defer f.Close()
	buf := make([]byte, downloadChunk)
	first := true
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 || first {
			msg := &upgradev1.DownloadResponse{Data: buf[:n]}
			if first {
				msg.Size, first = info.Size, false
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return toConnect(fmt.Errorf("read artifact: %w", rerr))
		}
		if ctx.Err() != nil {
			return toConnect(ctx.Err())
		}
	}
}

// List implements cairn.upgrade.v1.ArtifactService.
func (a *artifactService) List(context.Context, *connect.Request[upgradev1.ListRequest]) (*connect.Response[upgradev1.ListResponse], error) {
	if a.store == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoArtifacts)
	}
	list, err := a.store.List()
	if err != nil {
		return nil, toConnect(err)
	}
	out := &upgradev1.ListResponse{}
	for _, info := range list {
		out.Artifacts = append(out.Artifacts, artifactMessage(info))
	}
	return connect.NewResponse(out), nil
}

func artifactMessage(info artifacts.Info) *upgradev1.Artifact {
	return &upgradev1.Artifact{Digest: info.Digest, Size: info.Size, Stored: timestamppb.New(info.Stored)}
}

// artifactError maps the store's sentinels to codes.
func artifactError(err error) error {
	switch {
	case errors.Is(err, artifacts.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, artifacts.ErrBadDigest), errors.Is(err, artifacts.ErrMismatch):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, artifacts.ErrTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err)
	}
	return toConnect(err)
}
