package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"

	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
)

// MaxImageArchiveBytes bounds an ImportImages upload: the node stores the
// whole archive before containerd reads it, so the bound is disk, not
// memory. 4 GiB holds any image a node runs (the Kubernetes images
// together are well under 1 GiB); docs/api.md repeats the number.
const MaxImageArchiveBytes int64 = 4 << 30

// Image is one image in the node's container runtime, as ImageOps reports
// it.
type Image struct {
	// Ref is the image's name, the full reference kubelet asks for.
	Ref string
	// Digest is the digest of the image's target (manifest or index).
	Digest string
	// MediaType is the media type of that target.
	MediaType string
	// Size is the image's content size in bytes, 0 when unknown.
	Size int64
	// Platforms are "os/arch[/variant]", when the runtime reports them.
	Platforms []string
}

// ImageOps is the node's container runtime as KubernetesService's image
// RPCs use it: containerd, namespace k8s.io. Import may fail with
// ErrBadImageArchive (an archive the runtime refuses: invalid_argument)
// and ErrRuntimeUnavailable (the runtime does not answer: unavailable);
// a *connect.Error keeps its code, and other errors map as toConnect maps
// them.
type ImageOps interface {
	// Import imports every image (every platform) of the OCI or docker
	// archive at path and returns the images it named, as now stored.
	// The file is the caller's: Import neither moves nor removes it.
	Import(ctx context.Context, path string) ([]Image, error)
	// List returns the runtime's images, sorted by reference.
	List(ctx context.Context) ([]Image, error)
}

// errNoImages is what a node without ImageOps answers.
var errNoImages = errors.New("this node runs no container runtime (process mode): images need the docker or qemu provisioner")

// imageService serves the image RPCs of KubernetesService; one import at
// a time per node (slot), so that uploads waiting their turn hold no disk.
type imageService struct {
	ops ImageOps
	// dir is where uploads are stored until imported; empty is the
	// system's temporary directory.
	dir string
	// limit is the largest upload accepted (MaxImageArchiveBytes).
	limit int64
	slot  chan struct{}
}

func newImageService(ops ImageOps, dir string, limit int64) *imageService {
	if limit <= 0 {
		limit = MaxImageArchiveBytes
	}
	return &imageService{ops: ops, dir: dir, limit: limit, slot: make(chan struct{}, 1)}
}

// ImportImages implements cairn.kubernetes.v1.KubernetesService. The
// order keeps a refused call from changing anything: the start is checked
// (size against the limit) before a byte is stored, the upload is checked
// (size, digest) before containerd sees it, and the temporary file is
// removed whatever happens.
func (s *kubernetesService) ImportImages(ctx context.Context, stream *connect.ClientStream[kubernetesv1.ImportImagesRequest]) (*connect.Response[kubernetesv1.ImportImagesResponse], error) {
	is := s.images
	if is == nil || is.ops == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoImages)
	}
	first, err := firstMessage(stream)
	if err != nil {
		return nil, err
	}
	start := first.GetStart()
	if start == nil {
		return nil, errNoStart()
	}
	if err := is.checkStart(start); err != nil {
		return nil, err
	}
	select {
	case is.slot <- struct{}{}:
		defer func() { <-is.slot }()
	case <-ctx.Done():
		return nil, toConnect(ctx.Err())
	}
	path, sum, size, err := is.receive(first.GetData(), stream, start)
	if path != "" {
		defer os.Remove(path)
	}
	if err != nil {
		return nil, err
	}
	imgs, err := is.ops.Import(ctx, path)
	if err != nil {
		return nil, imageError(err)
	}
	s.log.Info("imported container images", "caller", callerFrom(ctx).subject(), "archive", start.GetName(),
		"sha256", sum, "size", size, "images", len(imgs))
	return connect.NewResponse(&kubernetesv1.ImportImagesResponse{Images: imageMessages(imgs), ArchiveSha256: sum, ArchiveSize: size}), nil
}

// ListImages implements cairn.kubernetes.v1.KubernetesService.
func (s *kubernetesService) ListImages(ctx context.Context, _ *connect.Request[kubernetesv1.ListImagesRequest]) (*connect.Response[kubernetesv1.ListImagesResponse], error) {
	if s.images == nil || s.images.ops == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoImages)
	}
	imgs, err := s.images.ops.List(ctx)
	if err != nil {
		return nil, imageError(err)
	}
	return connect.NewResponse(&kubernetesv1.ListImagesResponse{Images: imageMessages(imgs)}), nil
}

func (is *imageService) checkStart(start *kubernetesv1.ImportImagesStart) error {
	switch size := start.GetSize(); {
	case size < 0:
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: size %d is negative", ErrBadImageArchive, size))
	case size > is.limit:
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%w: the archive is %d bytes, this node takes at most %d", ErrImageArchiveTooLarge, size, is.limit))
	}
	if sum := start.GetSha256(); sum != "" {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: sha256 %q is not 64 hex digits", ErrBadImageArchive, sum))
		}
	}
	return nil
}

// receive stores the upload (first chunk, then the stream's) in a new
// temporary file and returns its path, hex SHA-256 and size. On an error
// the path, when not empty, is a file the caller removes.
func (is *imageService) receive(first []byte, stream *connect.ClientStream[kubernetesv1.ImportImagesRequest], start *kubernetesv1.ImportImagesStart) (path, sum string, size int64, err error) {
	if is.dir != "" {
		if err := os.MkdirAll(is.dir, 0o700); err != nil {
			return "", "", 0, toConnect(err)
		}
	}
	f, err := os.CreateTemp(is.dir, "import-*.tar")
	if err != nil {
		return "", "", 0, toConnect(fmt.Errorf("create the upload file: %w", err))
	}
	path = f.Name()
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = toConnect(fmt.Errorf("close %s: %w", path, cerr))
		}
	}()
	h := sha256.New()
	w := &limitedWriter{w: io.MultiWriter(f, h), left: is.limit, limit: is.limit}
	if _, err := w.Write(first); err != nil {
		return path, "", 0, err
	}
	for stream.Receive() {
		if _, err := w.Write(stream.Msg().GetData()); err != nil {
			return path, "", 0, err
		}
	}
	if err := stream.Err(); err != nil {
		return path, "", 0, err
	}
	size = is.limit - w.left
	sum = hex.EncodeToString(h.Sum(nil))
	switch {
	case size == 0:
		return path, "", 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: the archive is empty", ErrBadImageArchive))
	case start.GetSize() > 0 && size != start.GetSize():
		return path, "", 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: %d bytes arrived, the start said %d", ErrBadImageArchive, size, start.GetSize()))
	case start.GetSha256() != "" && !strings.EqualFold(sum, start.GetSha256()):
		return path, "", 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: the upload's SHA-256 is %s, the start said %s", ErrImageDigestMismatch, sum, strings.ToLower(start.GetSha256())))
	}
	return path, sum, size, nil
}

// limitedWriter refuses a write that would take it past left bytes.
type limitedWriter struct {
	w           io.Writer
	left, limit int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%w: this node takes at most %d bytes", ErrImageArchiveTooLarge, l.limit))
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err != nil {
		return n, toConnect(fmt.Errorf("store the upload: %w", err))
	}
	return n, nil
}

// imageError maps an ImageOps error to a Connect code.
func imageError(err error) error {
	switch {
	case errors.Is(err, ErrBadImageArchive):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrRuntimeUnavailable):
		return connect.NewError(connect.CodeUnavailable, err)
	}
	return toConnect(err)
}

func imageMessages(imgs []Image) []*kubernetesv1.Image {
	out := make([]*kubernetesv1.Image, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, &kubernetesv1.Image{Ref: i.Ref, Digest: i.Digest, MediaType: i.MediaType, Size: i.Size, Platforms: i.Platforms})
	}
	return out
}
