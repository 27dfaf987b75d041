package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/aymanbagabas/go-udiff/lcs"

	"github.com/cairn-project/cairn/internal/orderedyaml"
)

// RedactedChanged replaces a secret in Diff output whose value differs between
// the two documents, so a rotation shows up without revealing either value.
const RedactedChanged = Redacted + " (changed)"

// diffContext is the number of unchanged lines around each change, as in diff -u.
const diffContext = 3

// Diff returns a unified diff (3 lines of context, "--- old" / "+++ new"
// headers) from the old document to the new one, or "" when they are the same.
// Both are normalized first — parsed and re-marshaled in schema order when they
// parse, re-indented in their own key order otherwise — so comments and
// formatting do not show. Secrets are always redacted; a secret that differs
// between the two is shown as RedactedChanged on the new side. A document that
// is not YAML at all is shown as a single comment line, since it cannot be
// redacted reliably. Output is deterministic.
func Diff(oldDoc, newDoc []byte) string {
	oc, errOld := Parse(oldDoc)
	nc, errNew := Parse(newDoc)
	if errOld == nil && errNew == nil {
		if d, err := DiffParsed(oc, nil, nc); err == nil {
			return d
		}
	}
	return diffText(renderGeneric(oldDoc), renderGeneric(newDoc))
}

// DiffParsed is Diff of two parsed documents, without parsing or copying
// either: what Diff returns for the documents they were parsed from.
// oldView is old.Marshal(true) when the caller has it (a cache of the
// stored config's redacted rendering), or nil to have it rendered.
func DiffParsed(old *Config, oldView []byte, next *Config) (string, error) {
	if oldView == nil {
		var err error
		if oldView, err = old.Marshal(true); err != nil {
			return "", err
		}
	}
	newView, err := redactedView(next, old).encode()
	if err != nil {
		return "", err
	}
	return diffText(oldView, newView), nil
}

// diffText is the unified diff of two renderings, "" when they are equal.
func diffText(a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	return unifiedDiff(splitLines(a), splitLines(b))
}

// renderGeneric normalizes a document that Parse rejected, keeping its key
// order and redacting the values at secret fields of the schema.
func renderGeneric(data []byte) []byte {
	out, err := orderedyaml.Edit(data, func(keys []string, v any) (any, bool) {
		if s, isString := v.(string); (isString && s == "") || !secretAt(keys) {
			return nil, false
		}
		return Redacted, true
	})
	switch {
	case errors.Is(err, orderedyaml.ErrSyntax):
		return []byte("# document is not valid YAML; contents hidden because they may hold secrets\n")
	case err != nil:
		return []byte("# document cannot be re-encoded; contents hidden because they may hold secrets\n")
	}
	return out
}

// secretAt reports whether the mapping keys from the document's root (list
// elements add none) name a field tagged cairn:"secret".
func secretAt(keys []string) bool {
	t := reflect.TypeFor[Config]()
	for i, k := range keys {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		found := false
		for _, f := range structFields(t) {
			if f.name == k {
				if i == len(keys)-1 {
					return f.secret
				}
				t, found = f.field.Type, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return false
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffOp is one line of an edit script: ' ' kept, '-' deleted, '+' inserted.
type diffOp struct {
	kind byte
	text string
}

// editScript turns the line differences found by go-udiff's lcs package
// (Myers' algorithm, linear space, with a bound on the search past which
// the script is still correct but less minimal) into one op per line.
// Each replacement lists its deletions first, so a replaced line prints
// "-old" before "+new".
func editScript(a, b []string) []diffOp {
	ops := make([]diffOp, 0, max(len(a), len(b)))
	i := 0
	for _, d := range lcs.DiffLines(a, b) {
		for ; i < d.Start; i++ {
			ops = append(ops, diffOp{' ', a[i]})
		}
		for ; i < d.End; i++ {
			ops = append(ops, diffOp{'-', a[i]})
		}
		for _, l := range b[d.ReplStart:d.ReplEnd] {
			ops = append(ops, diffOp{'+', l})
		}
	}
	for ; i < len(a); i++ {
		ops = append(ops, diffOp{' ', a[i]})
	}
	return ops
}

// unifiedDiff formats the edit script from a to b as diff -u does. It is
// written here rather than taken from go-udiff's ToUnified, which counts
// lines from the start of the text for every edit (quadratic on a large
// document with many changes, on the leader's ApplyConfig path) and
// numbers empty hunk ranges differently from GNU diff.
func unifiedDiff(a, b []string) string {
	ops := editScript(a, b)
	var sb strings.Builder
	sb.WriteString("--- old\n+++ new\n")
	oldLine, newLine, pos := 1, 1, 0 // line numbers of ops[pos]
	for start := 0; start < len(ops); {
		// Find the next change.
		for start < len(ops) && ops[start].kind == ' ' {
			start++
		}
		if start == len(ops) {
			break
		}
		// Extend the hunk while the gap between changes is at most two contexts.
		end := start
		for k := start; k < len(ops); k++ {
			if ops[k].kind != ' ' {
				end = k + 1
			} else if k-end >= 2*diffContext {
				break
			}
		}
		from, to := max(0, start-diffContext), min(len(ops), end+diffContext)
		oldLine, newLine = advance(ops[pos:from], oldLine, newLine)
		writeHunk(&sb, ops[from:to], oldLine, newLine)
		oldLine, newLine = advance(ops[from:to], oldLine, newLine)
		pos, start = to, to
	}
	return sb.String()
}

// advance moves the old and new line numbers past ops.
func advance(ops []diffOp, oldLine, newLine int) (int, int) {
	for _, op := range ops {
		if op.kind != '+' {
			oldLine++
		}
		if op.kind != '-' {
			newLine++
		}
	}
	return oldLine, newLine
}

func writeHunk(sb *strings.Builder, ops []diffOp, oldLine, newLine int) {
	endOld, endNew := advance(ops, oldLine, newLine)
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(oldLine, endOld-oldLine), hunkRange(newLine, endNew-newLine))
	for _, op := range ops {
		sb.WriteByte(op.kind)
		sb.WriteString(op.text)
		sb.WriteByte('\n')
	}
}

// hunkRange formats a hunk range the way GNU diff does: an empty range names
// the line before it, and a length of one is left out.
func hunkRange(start, length int) string {
	switch length {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	default:
		return fmt.Sprintf("%d,%d", start, length)
	}
}
