package cli

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
)

// Output formats accepted by -o/--output.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
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
	f.StringVarP(&g.output, "output", "o", outputTable, "output format: table, json or yaml")
	f.DurationVar(&g.timeout, "timeout", defaultTimeout, "timeout of each request")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{outputTable, outputJSON, outputYAML}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("context", g.completeContexts)
	_ = root.MarkPersistentFlagFilename("cairnconfig")
}

// validate checks the global flags once they are parsed.
func (g *globals) validate() error {
	if !slices.Contains([]string{outputTable, outputJSON, outputYAML}, g.output) {
		return fmt.Errorf("%w: --output %q: want table, json or yaml", ErrUsage, g.output)
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
