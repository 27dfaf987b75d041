package kmsg

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is one message of the kernel's buffer.
type Record struct {
	// Facility is the syslog facility (0 kern, 1 user, 3 daemon, ...).
	Facility uint32
	// Priority is the syslog severity, 0 (emerg) to 7 (debug).
	Priority uint32
	// Sequence is the kernel's record number; a gap means records were
	// overwritten before they were read.
	Sequence uint64
	// SinceBoot is the record's time on the monotonic clock.
	SinceBoot time.Duration
	// Continued is set for a fragment that continues the previous record
	// (flag 'c').
	Continued bool
	// Message is the text, with the kernel's \xNN escapes undone.
	Message string
}

// Parse parses one record as a read(2) of /dev/kmsg returns it:
//
//	PRIO,SEQ,USEC,FLAGS[,more];MESSAGE\n[ KEY=VALUE\n]...
//
// PRIO is facility<<3 | priority; fields after FLAGS are reserved and
// skipped, as are the dictionary lines that follow the message (device
// properties such as SUBSYSTEM=). Non-printable bytes of the message come
// escaped as \xNN and are unescaped.
func Parse(b []byte) (Record, error) {
	header, rest, ok := bytes.Cut(b, []byte{';'})
	if !ok {
		return Record{}, fmt.Errorf("%w: no ';' after the header", ErrMalformed)
	}
	fields := strings.Split(string(header), ",")
	if len(fields) < 4 {
		return Record{}, fmt.Errorf("%w: header %q has %d fields, want at least 4", ErrMalformed, header, len(fields))
	}
	prio, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil {
		return Record{}, fmt.Errorf("%w: priority %q", ErrMalformed, fields[0])
	}
	seq, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w: sequence %q", ErrMalformed, fields[1])
	}
	usec, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || usec < 0 {
		return Record{}, fmt.Errorf("%w: timestamp %q", ErrMalformed, fields[2])
	}
	msg, _, _ := bytes.Cut(rest, []byte{'\n'}) // dictionary lines follow
	return Record{
		Facility:  uint32(prio >> 3),
		Priority:  uint32(prio & 7),
		Sequence:  seq,
		SinceBoot: time.Duration(usec) * time.Microsecond,
		Continued: strings.Contains(fields[3], "c"),
		Message:   unescape(msg),
	}, nil
}

// unescape undoes the kernel's \xNN escapes (it escapes every byte below
// 0x20 but newline, 0x7f, and a backslash that would otherwise read as
// one). A backslash not followed by two hex digits is kept as it is.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			if v, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}
