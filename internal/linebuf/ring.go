package linebuf

// ring holds the newest lines within two bounds: at most len(buf) lines
// and, if maxBytes > 0, at most maxBytes bytes of line text. It is not safe
// for concurrent use; Buffer guards it.
type ring struct {
	buf      []string
	start    int // index of the oldest line
	n        int
	bytes    int
	maxBytes int // 0: no byte bound
}

func newRing(lines, maxBytes int) ring {
	return ring{buf: make([]string, max(lines, 0)), maxBytes: max(maxBytes, 0)}
}

// add appends line, first evicting the oldest lines until both bounds
// hold, and returns how many lines it lost: the evicted ones, or line
// itself when the ring holds none. A line longer than maxBytes is cut to
// maxBytes, so one line can never empty the ring for nothing.
func (r *ring) add(line string) (lost int) {
	if len(r.buf) == 0 {
		return 1
	}
	if r.maxBytes > 0 && len(line) > r.maxBytes {
		line = line[:r.maxBytes]
	}
	for r.n > 0 && (r.n == len(r.buf) || r.maxBytes > 0 && r.bytes+len(line) > r.maxBytes) {
		r.bytes -= len(r.buf[r.start])
		r.buf[r.start] = ""
		r.start = (r.start + 1) % len(r.buf)
		r.n--
		lost++
	}
	r.buf[(r.start+r.n)%len(r.buf)] = line
	r.n++
	r.bytes += len(line)
	return lost
}

// last returns the newest n lines, oldest first; n < 0 means all.
func (r *ring) last(n int) []string {
	if n < 0 || n > r.n {
		n = r.n
	}
	out := make([]string, n)
	for i := range n {
		out[i] = r.buf[(r.start+r.n-n+i)%len(r.buf)]
	}
	return out
}

// take returns every line, oldest first, and empties the ring.
func (r *ring) take() []string {
	out := r.last(-1)
	clear(r.buf)
	r.start, r.n, r.bytes = 0, 0, 0
	return out
}
