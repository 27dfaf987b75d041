package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v2"
)

// RedactedChanged replaces a secret in Diff output whose value differs between
// the two documents, so a rotation shows up without revealing either value.
const RedactedChanged = Redacted + " (changed)"

// diffContext is the number of unchanged lines around each change, as in diff -u.
const diffContext = 3

// maxDiffCells bounds the LCS table; past it Diff reports the differing middle
// as a whole replacement, still correct but less minimal.
const maxDiffCells = 16 << 20

// Diff returns a unified diff (3 lines of context, "--- old" / "+++ new"
// headers) from the old document to the new one, or "" when they are the same.
// Both are normalized first — parsed and re-marshaled in schema order when they
// parse, re-indented in their own key order otherwise — so comments and
// formatting do not show. Secrets are always redacted; a secret that differs
// between the two is shown as RedactedChanged on the new side. A document that
// is not YAML at all is shown as a single comment line, since it cannot be
// redacted reliably. Output is deterministic.
func Diff(oldDoc, newDoc []byte) string {
	a, b := diffLines(oldDoc, newDoc)
	if slices.Equal(a, b) {
		return ""
	}
	return unifiedDiff(a, b)
}

// diffLines renders both documents, redacted, as lines.
func diffLines(oldDoc, newDoc []byte) ([]string, []string) {
	oc, errOld := Parse(oldDoc)
	nc, errNew := Parse(newDoc)
	var a, b []byte
	if errOld == nil && errNew == nil {
		ro, rn := oc.clone(), nc.clone()
		redactPair(reflect.ValueOf(&ro).Elem(), reflect.ValueOf(&rn).Elem())
		a, errOld = ro.Marshal(false)
		b, errNew = rn.Marshal(false)
	}
	if errOld != nil || a == nil {
		a = renderGeneric(oldDoc)
	}
	if errNew != nil || b == nil {
		b = renderGeneric(newDoc)
	}
	return splitLines(a), splitLines(b)
}

// redactPair redacts two configs in step, marking secrets that differ.
func redactPair(o, n reflect.Value) {
	switch o.Kind() {
	case reflect.Struct:
		for _, f := range structFields(o.Type()) {
			of, nf := o.Field(f.index), n.Field(f.index)
			if f.secret && of.Kind() == reflect.String {
				changed := of.String() != "" && nf.String() != "" && of.String() != nf.String()
				if of.String() != "" {
					of.SetString(Redacted)
				}
				if nf.String() != "" {
					nf.SetString(Redacted)
					if changed {
						nf.SetString(RedactedChanged)
					}
				}
				continue
			}
			redactPair(of, nf)
		}
	case reflect.Slice:
		common := min(o.Len(), n.Len())
		for i := range common {
			redactPair(o.Index(i), n.Index(i))
		}
		redactOne := func(v reflect.Value) {
			if v.String() != "" {
				v.SetString(Redacted)
			}
		}
		for i := common; i < o.Len(); i++ {
			walkSecrets(o.Index(i), redactOne)
		}
		for i := common; i < n.Len(); i++ {
			walkSecrets(n.Index(i), redactOne)
		}
	}
}

// renderGeneric normalizes a document that Parse rejected, keeping its key
// order and redacting the values at secret fields of the schema.
func renderGeneric(data []byte) []byte {
	var doc yaml.MapSlice
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []byte("# document is not valid YAML; contents hidden because they may hold secrets\n")
	}
	redactGeneric(doc, reflect.TypeFor[Config]())
	out, err := yaml.Marshal(doc)
	if err != nil {
		return []byte("# document cannot be re-encoded; contents hidden because they may hold secrets\n")
	}
	return out
}

// redactGeneric walks a generic YAML value alongside the Go type it would
// decode into, replacing the values of secret fields in place.
func redactGeneric(v any, t reflect.Type) {
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(yaml.MapSlice)
		if !ok {
			return
		}
		fields := structFields(t)
		for i := range m {
			key, _ := m[i].Key.(string)
			for _, f := range fields {
				if f.name != key {
					continue
				}
				if f.secret {
					if s, isString := m[i].Value.(string); !isString || s != "" {
						m[i].Value = Redacted
					}
				} else {
					redactGeneric(m[i].Value, f.field.Type)
				}
			}
		}
	case reflect.Slice:
		if list, ok := v.([]any); ok {
			for _, e := range list {
				redactGeneric(e, t.Elem())
			}
		}
	}
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

// editScript computes a minimal line edit script with a longest common
// subsequence table over the part between the common prefix and suffix. Ties
// prefer deletions, so a replaced line prints "-old" before "+new".
func editScript(a, b []string) []diffOp {
	var ops []diffOp
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		ops = append(ops, diffOp{' ', a[pre]})
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	ops = append(ops, lcsOps(ma, mb)...)
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, diffOp{' ', l})
	}
	return ops
}

func lcsOps(a, b []string) []diffOp {
	var ops []diffOp
	if (len(a)+1)*(len(b)+1) > maxDiffCells {
		for _, l := range a {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, diffOp{'+', l})
		}
		return ops
	}
	// lcs[i*w+j] is the LCS length of a[i:] and b[j:].
	w := len(b) + 1
	lcs := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i, j = i+1, j+1
		case j == len(b) || (i < len(a) && lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	return ops
}

// unifiedDiff formats the edit script from a to b as diff -u does.
func unifiedDiff(a, b []string) string {
	ops := editScript(a, b)
	var sb strings.Builder
	sb.WriteString("--- old\n+++ new\n")
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
		writeHunk(&sb, ops, from, to)
		start = to
	}
	return sb.String()
}

func writeHunk(sb *strings.Builder, ops []diffOp, from, to int) {
	// Line numbers (1-based) of the first op in the hunk in each file.
	oldLine, newLine := 1, 1
	for _, op := range ops[:from] {
		if op.kind != '+' {
			oldLine++
		}
		if op.kind != '-' {
			newLine++
		}
	}
	oldLen, newLen := 0, 0
	for _, op := range ops[from:to] {
		if op.kind != '+' {
			oldLen++
		}
		if op.kind != '-' {
			newLen++
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(oldLine, oldLen), hunkRange(newLine, newLen))
	for _, op := range ops[from:to] {
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
