package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"
	"k8s.io/client-go/util/jsonpath"

	"github.com/cairn-project/cairn/internal/orderedyaml"
)

// structured reports whether the output format is a machine format
// (json, yaml, jsonpath=).
func (g *globals) structured() bool { return g.output != outputTable && g.output != outputWide }

// wide: the table with every column (-o wide).
func (g *globals) wide() bool { return g.output == outputWide }

// parseJSONPath parses a kubectl jsonpath template; like kubectl's, one
// without braces ('.members[*].name') is taken as one expression.
func parseJSONPath(tmpl string) (*jsonpath.JSONPath, error) {
	if !strings.Contains(tmpl, "{") {
		tmpl = "{" + tmpl + "}"
	}
	jp := jsonpath.New("output")
	if err := jp.Parse(tmpl); err != nil {
		return nil, fmt.Errorf("jsonpath: %w", err)
	}
	return jp, nil
}

// printData writes v as JSON (indented) or YAML, keeping object key order.
func (g *globals) printData(v any) error {
	return writeData(g.streams.Out, g.output, v)
}

func writeData(w io.Writer, format string, v any) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if tmpl, ok := strings.CutPrefix(format, outputJSONPath); ok {
		return writeJSONPath(w, tmpl, js)
	}
	if format == outputYAML {
		out, err := jsonToYAML(js)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", js)
	return err
}

// jsonToYAML converts a JSON object to block YAML keeping key order.
func jsonToYAML(js []byte) ([]byte, error) {
	out, err := orderedyaml.FromJSON(js)
	if err != nil {
		return nil, fmt.Errorf("convert output to YAML: %w", err)
	}
	return out, nil
}

// table collects rows and writes them aligned in columns.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// prependColumn inserts a column before the others.
func (t *table) prependColumn(name string) {
	t.header = append([]string{name}, t.header...)
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the table; an empty cell prints as "-" so columns stay
// readable.
func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			if c == "" {
				c = "-"
			}
			cells[i] = c
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// isTerminal reports whether w is a terminal, for progress that redraws in
// place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// enumLabel turns an enum name like ROLE_CONTROLPLANE into "controlplane"
// by dropping its type prefix; the zero value prints as empty.
func enumLabel(name, prefix string) string {
	s := strings.ToLower(strings.TrimPrefix(name, prefix))
	if s == "unspecified" {
		return ""
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeJSONPath applies a jsonpath template to the JSON document js, as
// kubectl -o jsonpath= does, ending with a newline.
func writeJSONPath(w io.Writer, tmpl string, js []byte) error {
	jp, err := parseJSONPath(tmpl)
	if err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	var buf strings.Builder
	if err := jp.Execute(&buf, doc); err != nil {
		return fmt.Errorf("jsonpath: %w", err)
	}
	out := buf.String()
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	_, err = io.WriteString(w, out)
	return err
}
