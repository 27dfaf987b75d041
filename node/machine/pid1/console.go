package pid1

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// KmsgPrefix starts every line cairnd writes to the kernel log, so dmesg
// tells its lines from the kernel's.
const KmsgPrefix = "cairnd: "

// kmsgMax is the longest record written to /dev/kmsg. The kernel takes
// up to 1024 bytes per write (LOG_LINE_MAX, 1024 minus the record header
// in older kernels, so 976 is safe everywhere) and fails longer ones with
// EINVAL; a longer line is cut into several records.
const kmsgMax = 976

// Kmsg writes log lines to the kernel log: one write(2) per line, which
// /dev/kmsg takes as one record, with a syslog priority read from the
// slog level ("<3>" for ERROR, "<4>" for WARN, "<6>" otherwise) and
// KmsgPrefix. Partial lines wait for their newline. Write errors are
// dropped (the console has the lines the kernel does not echo, and the
// in-memory log has all): a full kernel ring must not
// stop the node.
type Kmsg struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewKmsg writes to w, normally /dev/kmsg opened for writing.
func NewKmsg(w io.Writer) *Kmsg { return &Kmsg{w: w} }

// Write implements io.Writer.
func (k *Kmsg) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.buf = append(k.buf, p...)
	for {
		i := bytes.IndexByte(k.buf, '\n')
		if i < 0 {
			break
		}
		k.line(string(k.buf[:i]))
		k.buf = k.buf[i+1:]
	}
	return len(p), nil
}

func (k *Kmsg) line(s string) {
	pri := priority(s)
	room := kmsgMax - len(pri) - len(KmsgPrefix) - 1 // and the newline
	for first := true; first || s != ""; first = false {
		n := min(len(s), room)
		_, _ = io.WriteString(k.w, pri+KmsgPrefix+s[:n]+"\n")
		s = s[n:]
	}
}

// priorityLevel is priority's number: 3 for ERROR, 4 for WARN, 6 otherwise.
func priorityLevel(s string) int { return int(priority(s)[1] - '0') }

// priority maps the level in a text or JSON slog line to a syslog
// priority prefix.
func priority(s string) string {
	switch {
	case strings.Contains(s, "level=ERROR"), strings.Contains(s, `"level":"ERROR"`):
		return "<3>"
	case strings.Contains(s, "level=WARN"), strings.Contains(s, `"level":"WARN"`):
		return "<4>"
	}
	return "<6>"
}

// Console is where cairnd logs as PID 1: /dev/console (the serial console
// of a VM: what `qemu -serial` captures) and the kernel log (/dev/kmsg,
// which `cairnctl dmesg` reads). Either may be missing; Console then
// writes to what it has.
type Console struct {
	io.Writer
	files []*os.File
}

// OpenConsole opens /dev/console and /dev/kmsg below dev ("/dev"). It
// also turns off the kernel's rate limit on userspace writes to
// /dev/kmsg (kernel.printk_devkmsg=on; by default a burst of ten lines
// per five seconds), which fails harmlessly when the kernel command line
// fixed it (printk.devkmsg=).
func OpenConsole(dev, proc string) (*Console, error) {
	_ = os.WriteFile(proc+"/sys/kernel/printk_devkmsg", []byte("on\n"), 0)
	c := &Console{}
	var ws []io.Writer
	var errs []error
	console, err := os.OpenFile(dev+"/console", os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		c.files = append(c.files, console)
	} else {
		errs = append(errs, err)
	}
	kmsg, err := os.OpenFile(dev+"/kmsg", os.O_WRONLY, 0)
	if err == nil {
		c.files = append(c.files, kmsg)
		ws = append(ws, NewKmsg(kmsg))
	} else {
		errs = append(errs, err)
	}
	if console != nil {
		// The kernel prints a kmsg record on the console itself when its
		// priority is below the console log level: written there too, a
		// line would show twice on a VM's serial console.
		echoed := 0
		if kmsg != nil {
			echoed = consoleLogLevel(proc)
		}
		ws = append(ws, &belowLevel{w: console, echoed: echoed})
	}
	if len(ws) == 0 {
		return nil, errors.Join(errs...)
	}
	c.Writer = &allWriter{ws: ws}
	return c, nil
}

// Console returns /dev/console, for the Go runtime's crash output, or nil.
func (c *Console) Console() *os.File {
	for _, f := range c.files {
		if strings.HasSuffix(f.Name(), "/console") {
			return f
		}
	}
	return nil
}

// consoleLogLevel reads the console log level, the first field of
// /proc/sys/kernel/printk: the kernel prints records of a lower priority
// number on the console. 0 (the kernel echoes nothing) when unreadable, so
// that a line is rather shown twice than not at all.
func consoleLogLevel(proc string) int {
	data, err := os.ReadFile(proc + "/sys/kernel/printk")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// belowLevel writes to the console the lines the kernel does not echo
// there from /dev/kmsg: those whose priority number is at least echoed.
// slog writes one record per Write; each line of it is judged on its own.
type belowLevel struct {
	w      io.Writer
	echoed int
}

func (b *belowLevel) Write(p []byte) (int, error) {
	var out []byte
	for line := range bytes.Lines(p) {
		if priorityLevel(string(line)) >= b.echoed {
			out = append(out, line...)
		}
	}
	if len(out) > 0 {
		if _, err := b.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// allWriter writes to every writer and ignores their errors: one broken
// output must not silence the other.
type allWriter struct{ ws []io.Writer }

func (a *allWriter) Write(p []byte) (int, error) {
	for _, w := range a.ws {
		_, _ = w.Write(p)
	}
	return len(p), nil
}
