package config

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// MaxDocumentBytes is the largest cluster configuration document the node
// API accepts and cairnctl sends: 4 MiB. A generated configuration is a few
// KiB and grows by well under 1 KiB per node, so even a cluster of
// thousands of nodes stays far below it; the limit exists so that one
// request cannot make a node hold tens of megabytes (the document is kept
// several times over while it is parsed, diffed and replicated through
// Raft). docs/api.md lists it with the API's other limits.
const MaxDocumentBytes = 4 << 20

// CheckDocument checks what can be told of a configuration document before
// parsing it: that it is not empty (ErrEmptyDocument), is UTF-8 text
// without control characters other than tab and line breaks, which YAML
// forbids (ErrNotText), and is at most MaxDocumentBytes (ErrTooLarge).
func CheckDocument(doc []byte) error {
	if len(doc) > MaxDocumentBytes {
		return fmt.Errorf("%w: the document is %s; the limit is %s", ErrTooLarge, FormatBytes(len(doc)), FormatBytes(MaxDocumentBytes))
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return ErrEmptyDocument
	}
	if i := FirstNonText(doc); i >= 0 {
		return fmt.Errorf("%w (byte 0x%02x at offset %d)", ErrNotText, doc[i], i)
	}
	return nil
}

// FirstNonText returns the offset of the first byte that keeps doc from
// being YAML text: invalid UTF-8, or a control character other than tab,
// line feed and carriage return (YAML 1.2, section 5.1). It returns -1 for
// text.
func FirstNonText(doc []byte) int {
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return i
		}
		i += size
	}
	return -1
}

// FormatBytes renders n as a power-of-two size, exact: "4 MiB", "12 KiB",
// "4.0 MiB (4194400 bytes)".
func FormatBytes(n int) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	if v == float64(int(v)) {
		return fmt.Sprintf("%d %s", int(v), suffix)
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", v, suffix, n)
}
