package cli

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cairn-project/cairn/node/cluster/health"
)

// Marks in front of a health check line.
const (
	markOK      = "✓"
	markPending = "…"
	markFailed  = "✗"
)

// progress draws a block of status lines: redrawn in place on a terminal,
// printed again only when they change otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	drawn int
	last  []string
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

// show draws lines, replacing the block drawn before on a terminal.
func (p *progress) show(lines []string) {
	if !p.tty {
		if !slices.Equal(lines, p.last) {
			for _, l := range lines {
				fmt.Fprintln(p.w, l)
			}
		}
		p.last = lines
		return
	}
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, l := range lines {
		fmt.Fprintf(p.w, "\r\x1b[2K%s\n", l)
	}
	for range p.drawn - len(lines) {
		fmt.Fprint(p.w, "\r\x1b[2K\n")
	}
	p.drawn = max(p.drawn, len(lines))
	p.last = lines
}

// checkLines renders health checks, one line each. final selects the
// failure mark for checks that did not pass; while waiting they are pending.
func checkLines(checks []health.Check, final bool) []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		mark := markPending
		switch {
		case c.OK:
			mark = markOK
		case final:
			mark = markFailed
		}
		out[i] = fmt.Sprintf("%s %s: %s", mark, c.Name, c.Detail)
	}
	return out
}

// statusLine is the header of a health progress block on a terminal.
func statusLine(what string, checks []health.Check, done bool, start time.Time, limit time.Duration) string {
	elapsed := time.Since(start).Round(time.Second)
	switch {
	case health.Healthy(checks):
		return fmt.Sprintf("healthy after %s", elapsed)
	case done:
		return fmt.Sprintf("not healthy after %s", elapsed)
	}
	return fmt.Sprintf("waiting for %s (%s of %s)", what, elapsed, limit)
}
