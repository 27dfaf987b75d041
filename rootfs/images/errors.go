package images

import (
	"errors"

	"github.com/cairn-project/cairn/rootfs/internal/oci"
)

var (
	// ErrNotStatic is returned by Build for a File marked Static that
	// needs a dynamic loader: FROM scratch there is none. It is
	// rootfs/image's ErrNotStatic too.
	ErrNotStatic = oci.ErrNotStatic
	// ErrPath is returned by Build for a file path that is not absolute
	// and clean, or that is both a file and another file's parent.
	ErrPath = oci.ErrPath
	// ErrSpec is returned by Build for a Spec without a valid reference,
	// or a File that is neither content, a source nor a link.
	ErrSpec = errors.New("bad image spec")
)
