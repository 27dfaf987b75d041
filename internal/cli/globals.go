package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Output formats accepted by -o/--output.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
	// outputWide is the table with more columns where a command has them
	// (get members), as kubectl's -o wide.
	outputWide = "wide"
	// outputJSONPath prefixes a template (kubectl's -o jsonpath=) applied
	// to the -o json document.
	outputJSONPath = "jsonpath="
)

// defaultTimeout bounds each request unless --timeout says otherwise.
const defaultTimeout = 10 * time.Second

// globals holds the persistent flags every command shares.
type globals struct {
	streams Streams

	cairnconfig string
	context     string
	endpoints   []string
	nodes       []string
	output      string
	timeout     time.Duration
}

func (g *globals) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.cairnconfig, "cairnconfig", "", "client config file (default $CAIRNCONFIG, else $HOME/.cairn/config)")
	f.StringVar(&g.context, "context", "", "context of the client config to use (default: its current context)")
	f.StringSliceVarP(&g.endpoints, "endpoints", "e", nil, "node API endpoints as host[:port], comma-separated; overrides the context's")
	f.StringSliceVarP(&g.nodes, "nodes", "n", nil, "nodes to ask, by name, comma-separated; each is reached through the endpoint")
	f.StringVarP(&g.output, "output", "o", outputTable, "output format: table, wide, json, yaml or jsonpath=TEMPLATE (kubectl's, over the -o json document, e.g. '{.members[*].name}')")
	f.DurationVar(&g.timeout, "timeout", defaultTimeout, "timeout of each request")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{outputTable, outputWide, outputJSON, outputYAML, outputJSONPath}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("context", g.completeContexts)
	_ = root.RegisterFlagCompletionFunc("nodes", g.completeNodes)
	_ = root.MarkPersistentFlagFilename("cairnconfig")
}

// validate checks the global flags once they are parsed.
func (g *globals) validate() error {
	if tmpl, ok := strings.CutPrefix(g.output, outputJSONPath); ok {
		if _, err := parseJSONPath(tmpl); err != nil {
			return fmt.Errorf("%w: --output %q: %w", ErrUsage, g.output, err)
		}
	} else if !slices.Contains([]string{outputTable, outputWide, outputJSON, outputYAML}, g.output) {
		return fmt.Errorf("%w: --output %q: want table, wide, json, yaml or jsonpath=TEMPLATE", ErrUsage, g.output)
	}
	if g.timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", ErrUsage)
	}
	return nil
}

// completeContexts offers the context names of the client config.
func (g *globals) completeContexts(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	cfg, _, err := g.loadClientConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return cfg.contextNames(), cobra.ShellCompDirectiveNoFileComp
}
