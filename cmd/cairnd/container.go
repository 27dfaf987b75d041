package main

import (
	"context"
	"os"

	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/machine/pid1"
)

// containerOptions is what container mode adds to the node: the API on
// every address (a published port reaches the container's own address,
// which the config may not name), and, as the container's PID 1, the
// orphan reaper.
func containerOptions(ctx context.Context, o *node.Options) {
	o.ListenAll = true
	if os.Getpid() == 1 {
		r := pid1.NewReaper(o.Logger.With("component", "reaper"))
		go func() { _ = r.Run(ctx) }()
		o.Reaper = r
	}
}
