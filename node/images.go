package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// importLabel marks the images one ImportImages call stored, with a value
// new for each call: ctr prints no machine-readable list of what it
// imported, so the images carrying this call's value are the answer. A
// name imported again gets the new value (containerd replaces an existing
// image's labels with the imported ones).
const importLabel = "cairn.dev/import"

// containerImages is the node's containerd as the API's image RPCs use it
// (api.ImageOps): ctr, the one from the node's runtime binaries, exec'd
// against the socket, so the node links no containerd client (a large
// module) and speaks exactly the runtime's own version.
type containerImages struct {
	// ctr is the ctr binary; socket is containerd's; namespace is where
	// the images go.
	ctr, socket, namespace string
	// reaper starts ctr where cairnd is PID 1 (container and pid1 modes),
	// so that its orphan reaper leaves ctr's exit status to cmd.Wait: a
	// plain start lost that race in CI ("waitid: no child processes").
	reaper supervisor.Reaper
}

// localImageOps returns the image operations of a node that runs a
// container runtime (pid1 and container modes), nil in process mode,
// where the API answers failed_precondition. Whether containerd runs yet
// is asked per call: it is started by the supervisor after the API is
// up, and may restart.
func localImageOps(o Options) api.ImageOps {
	if !o.Capabilities.Has(capability.ContainerRuntime) || o.Kubernetes == "" {
		return nil
	}
	return &containerImages{ctr: filepath.Join(o.Kubernetes, "ctr"), socket: kube.ContainerdSocket, namespace: kube.ContainerdNamespace, reaper: o.Reaper}
}

// imageUploads returns where ImportImages stores an archive until it is
// imported, in the state directory (which holds gigabytes where /tmp may
// be a small tmpfs), after removing what an upload interrupted by a crash
// left there: the API removes its files itself otherwise.
func imageUploads(o Options) string {
	dir := filepath.Join(o.StateDir, "image-uploads")
	_ = os.RemoveAll(dir)
	return dir
}

// Import implements api.ImageOps: ctr images import --all-platforms (every
// platform's content stored, the node's own unpacked), labelled with a
// new importLabel value, then the images with that value.
func (c *containerImages) Import(ctx context.Context, path string) ([]api.Image, error) {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	mark := hex.EncodeToString(id)
	// No --snapshotter: containerd's transfer service unpacks the node's
	// platform into the snapshotter of its unpack_config (overlayfs by
	// default), which must be the CRI's; a snapshotter it does not list
	// fails every import ("no unpack platforms defined").
	if _, err := c.run(ctx, "images", "import", "--all-platforms", "--label", importLabel+"="+mark, path); err != nil {
		switch {
		case errors.Is(err, api.ErrRuntimeUnavailable), ctx.Err() != nil:
			return nil, err
		case c.answers(ctx):
			// containerd is there and refused the file.
			return nil, fmt.Errorf("%w: %w", api.ErrBadImageArchive, err)
		}
		return nil, fmt.Errorf("%w: %w", api.ErrRuntimeUnavailable, err)
	}
	all, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []api.Image
	for _, img := range all {
		if img.labels[importLabel] == mark {
			out = append(out, img.Image)
		}
	}
	return out, nil
}

// List implements api.ImageOps.
func (c *containerImages) List(ctx context.Context) ([]api.Image, error) {
	all, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Image, len(all))
	for i, img := range all {
		out[i] = img.Image
	}
	return out, nil
}

type listedImage struct {
	api.Image
	labels map[string]string
}

// list parses ctr images ls: REF TYPE DIGEST SIZE (a number and a unit,
// rounded to a tenth) PLATFORMS LABELS, "-" for no platforms or labels.
func (c *containerImages) list(ctx context.Context) ([]listedImage, error) {
	out, err := c.run(ctx, "images", "ls")
	if err != nil {
		return nil, err
	}
	var imgs []listedImage
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines[min(1, len(lines)):] { // the header
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		img := listedImage{Image: api.Image{Ref: f[0], MediaType: f[1], Digest: f[2], Size: parseSize(f[3], f[4])}, labels: map[string]string{}}
		if f[5] != "-" {
			img.Platforms = strings.Split(f[5], ",")
		}
		if f[6] != "-" {
			for kv := range strings.SplitSeq(f[6], ",") {
				k, v, _ := strings.Cut(kv, "=")
				img.labels[k] = v
			}
		}
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(a, b listedImage) int { return strings.Compare(a.Ref, b.Ref) })
	return imgs, nil
}

// parseSize reads a size as ctr prints it ("2.5 MiB"); 0 if it cannot.
func parseSize(num, unit string) int64 {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := slices.Index(units, unit)
	if i < 0 {
		return 0
	}
	for range i {
		v *= 1024
	}
	return int64(v)
}

// answers reports whether containerd answers on its socket, which tells
// an archive it refused from a runtime that is not there.
func (c *containerImages) answers(ctx context.Context) bool {
	_, err := c.run(ctx, "version")
	return err == nil
}

// run runs ctr against the socket and namespace and returns its standard
// output; a failure carries ctr's standard error. A missing socket is
// api.ErrRuntimeUnavailable without running anything.
func (c *containerImages) run(ctx context.Context, args ...string) ([]byte, error) {
	if _, err := os.Stat(c.socket); err != nil {
		return nil, fmt.Errorf("%w: containerd is not running yet (%w)", api.ErrRuntimeUnavailable, err)
	}
	cmd := exec.CommandContext(ctx, c.ctr, append([]string{"--address", c.socket, "--namespace", c.namespace}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := c.start(cmd)
	if err == nil {
		err = cmd.Wait()
		if c.reaper != nil {
			c.reaper.Release(cmd.Process.Pid)
		}
	}
	if err == nil {
		return stdout.Bytes(), nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return nil, fmt.Errorf("run %s: %w", c.ctr, err)
	}
	msg := ctrMessage(stderr.String())
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such file or directory") && strings.Contains(msg, c.socket) {
		return nil, fmt.Errorf("%w: %s", api.ErrRuntimeUnavailable, msg)
	}
	return nil, fmt.Errorf("ctr %s: %s", strings.Join(args[:min(2, len(args))], " "), orExit(msg, exit))
}

// start starts cmd through the reaper, when there is one.
func (c *containerImages) start(cmd *exec.Cmd) error {
	if c.reaper == nil {
		return cmd.Start()
	}
	return c.reaper.Start(cmd)
}

func orExit(msg string, exit *exec.ExitError) string {
	if msg == "" {
		return exit.Error()
	}
	return msg
}

// ctrMessage is ctr's error from its standard error, without the log
// lines (warnings such as containerd's cgroup v1 deprecation) before it.
func ctrMessage(stderr string) string {
	var keep []string
	for l := range strings.SplitSeq(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "time=") && !strings.Contains(l, "level=error") && !strings.Contains(l, "level=fatal") {
			continue
		}
		keep = append(keep, strings.TrimPrefix(strings.TrimSpace(l), "ctr: "))
	}
	return strings.Join(keep, "; ")
}
