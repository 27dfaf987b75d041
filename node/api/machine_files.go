package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

const (
	// listLimit bounds one List answer; past it the answer is truncated.
	listLimit = 10000
	// readDefault and readMax bound Read's limit_bytes.
	readDefault = 1 << 20
	readMax     = 64 << 20
	readChunk   = 64 << 10
)

var (
	errPathNotAbsolute = errors.New("path must be absolute")
	errPathNotClean    = errors.New("path must be clean (no \"..\", \".\", \"//\" or trailing \"/\")")
	errReadLimit       = fmt.Errorf("limit_bytes must be at most %d", readMax)
	errIsDirectory     = errors.New("is a directory")
)

// hostPath checks a requested path and turns it into a name in the root
// fs.FS. Only a path that path.Clean leaves as it is passes, so ".." can
// never appear in it (Clean removes every one in an absolute path).
func hostPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: %q", errPathNotAbsolute, p))
	}
	if path.Clean(p) != p {
		return "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: %q", errPathNotClean, p))
	}
	if p == "/" {
		return ".", nil
	}
	return p[1:], nil
}

// fsError gives a filesystem error its code.
func fsError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, fs.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

// List implements cairn.machine.v1.MachineService.
func (m *machineService) List(ctx context.Context, req *connect.Request[machinev1.ListRequest]) (*connect.Response[machinev1.ListResponse], error) {
	name, err := hostPath(req.Msg.GetPath())
	if err != nil {
		return nil, err
	}
	root := m.s.opts.Host.root()
	info, err := fs.Stat(root, name)
	if err != nil {
		return nil, fsError(fmt.Errorf("list %s: %w", req.Msg.GetPath(), err))
	}
	res := &machinev1.ListResponse{NodeName: m.s.opts.NodeName}
	if !info.IsDir() {
		res.Entries = []*machinev1.FileInfo{fileInfo(req.Msg.GetPath(), info)}
		return connect.NewResponse(res), nil
	}
	w := lister{root: root, res: res}
	if err := w.walk(ctx, req.Msg.GetPath(), name, int(req.Msg.GetDepth())); err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

type lister struct {
	root fs.FS
	res  *machinev1.ListResponse
}

// walk adds dir's entries, each subdirectory's after it down to depth
// more levels. Entries fs.ReadDir reports carry lstat information, so a
// symbolic link to a directory is listed, not followed. A subdirectory
// that cannot be read is listed without its entries.
func (w *lister) walk(ctx context.Context, abs, name string, depth int) error {
	entries, err := fs.ReadDir(w.root, name)
	if err != nil {
		return fsError(fmt.Errorf("list %s: %w", abs, err))
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return connect.NewError(connect.CodeCanceled, err)
		}
		if len(w.res.Entries) >= listLimit {
			w.res.Truncated = true
			return nil
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since ReadDir
		}
		child := path.Join(abs, e.Name())
		w.res.Entries = append(w.res.Entries, fileInfo(child, info))
		if e.IsDir() && depth > 0 {
			if err := w.walk(ctx, child, path.Join(name, e.Name()), depth-1); err != nil && connect.CodeOf(err) == connect.CodeCanceled {
				return err
			}
		}
	}
	return nil
}

func fileInfo(abs string, info fs.FileInfo) *machinev1.FileInfo {
	return &machinev1.FileInfo{
		Path:      abs,
		Name:      path.Base(abs),
		SizeBytes: uint64(max(info.Size(), 0)), // clamped
		Mode:      info.Mode().String(),
		Mtime:     timestamppb.New(info.ModTime()),
		IsDir:     info.IsDir(),
	}
}

// Read implements cairn.machine.v1.MachineService.
func (m *machineService) Read(ctx context.Context, req *connect.Request[machinev1.ReadRequest], stream *connect.ServerStream[machinev1.ReadResponse]) error {
	name, err := hostPath(req.Msg.GetPath())
	if err != nil {
		return err
	}
	limit := req.Msg.GetLimitBytes()
	switch {
	case limit == 0:
		limit = readDefault
	case limit > readMax:
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w (got %d)", errReadLimit, limit))
	}
	f, err := m.s.opts.Host.root().Open(name)
	if err != nil {
		return fsError(fmt.Errorf("read %s: %w", req.Msg.GetPath(), err))
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return fsError(fmt.Errorf("read %s: %w", req.Msg.GetPath(), err))
	} else if info.IsDir() {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("read %s: %w", req.Msg.GetPath(), errIsDirectory))
	}
	// One byte past the limit tells a file that ends at it from a longer one.
	r := io.LimitReader(f, int64(limit)+1) // limit <= readMax
	sent := uint64(0)
	buf := make([]byte, readChunk)
	for {
		if err := ctx.Err(); err != nil {
			return connect.NewError(connect.CodeCanceled, err)
		}
		n, rerr := io.ReadFull(r, buf[:min(uint64(len(buf)), limit+1-sent)])
		truncated := sent+uint64(n) > limit // n >= 0
		if truncated {
			n = int(limit - sent) // < readChunk
		}
		if n > 0 || truncated {
			if err := stream.Send(&machinev1.ReadResponse{Data: buf[:n], Truncated: truncated}); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		sent += uint64(n) // n >= 0
		if truncated || errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return fsError(fmt.Errorf("read %s: %w", req.Msg.GetPath(), rerr))
		}
	}
}
