package cli

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// watchInterval is how often --watch polls.
const watchInterval = time.Second

// watch calls render every second until ctx ends. On a terminal it clears
// the screen and redraws each frame; otherwise it prints a frame only when
// it differs from the previous one, so logs stay readable. Errors are shown
// in the frame and polling goes on.
func (g *globals) watch(ctx context.Context, render func(context.Context) ([]byte, error)) error {
	tty := isTerminal(g.streams.Out)
	var last []byte
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		frame, err := render(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			frame = fmt.Appendf(frame, "error: %v\n", err)
		}
		switch {
		case tty:
			fmt.Fprintf(g.streams.Out, "\x1b[H\x1b[2J%s — every %s, Ctrl-C to stop\n\n%s",
				time.Now().Format(time.TimeOnly), watchInterval, frame)
		case !bytes.Equal(frame, last):
			if last != nil && !g.structured() {
				fmt.Fprintln(g.streams.Out)
			}
			_, _ = g.streams.Out.Write(frame)
		}
		last = frame
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
