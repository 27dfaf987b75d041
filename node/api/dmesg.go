package api

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cairn-project/cairn/node/machine/kmsg"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// dmesgBatch is the most kernel messages sent in one response.
const dmesgBatch = 256

// Dmesg implements cairn.machine.v1.MachineService: the kernel's buffer in
// batches, then, with follow, each new message as the kernel logs it.
func (m *machineService) Dmesg(ctx context.Context, req *connect.Request[machinev1.DmesgRequest], stream *connect.ServerStream[machinev1.DmesgResponse]) error {
	path := m.s.opts.Kmsg
	if path == "" {
		path = kmsg.Path
	}
	r, err := kmsg.Open(path)
	if errors.Is(err, kmsg.ErrUnavailable) {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%w on this node (mode %s): %w", errNoKmsg, m.s.opts.Mode, err))
	}
	if err != nil {
		return connect.NewError(connect.CodeInternal, err)
	}
	// Close wakes a Read waiting for the kernel when the call ends.
	stop := context.AfterFunc(ctx, func() { _ = r.Close() })
	defer func() {
		if stop() {
			_ = r.Close()
		}
	}()
	var batch []*machinev1.KernelMessage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&machinev1.DmesgResponse{Messages: batch, NodeName: m.s.opts.NodeName})
		batch = nil
		return err
	}
	wait := false
	for {
		rec, err := r.Read(wait)
		switch {
		case errors.Is(err, io.EOF):
			if err := flush(); err != nil || !req.Msg.GetFollow() {
				return err
			}
			wait = true
			continue
		case ctx.Err() != nil:
			return nil // the caller stopped following
		case errors.Is(err, kmsg.ErrMalformed):
			m.s.log.Warn("dmesg: skipping a record", "error", err)
			continue
		case err != nil:
			return connect.NewError(connect.CodeInternal, err)
		}
		batch = append(batch, kernelMessage(rec))
		// Following, every message goes out at once; reading the
		// buffer, messages go in batches.
		if len(batch) >= dmesgBatch || wait {
			if err := flush(); err != nil {
				return err
			}
		}
		wait = false
	}
}

// errNoKmsg says why Dmesg failed where /dev/kmsg cannot be read.
var errNoKmsg = errors.New("the kernel message buffer (/dev/kmsg) cannot be read")

func kernelMessage(r kmsg.Record) *machinev1.KernelMessage {
	return &machinev1.KernelMessage{
		Sequence: r.Sequence, Facility: r.Facility, Priority: r.Priority,
		SinceBoot: durationpb.New(r.SinceBoot), Message: r.Message, Continued: r.Continued,
	}
}
