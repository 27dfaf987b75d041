package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// logLevels are the levels log-level accepts, least severe first.
var logLevels = []string{"debug", "info", "warn", "error"}

func newLogLevelCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "log-level [LEVEL]",
		Short: "Show or change the level of cairnd's own log",
		Long: `Without LEVEL, print the level of cairnd's own log on the endpoint's node,
or on each node named with --nodes. With LEVEL (debug, info, warn or error),
change it there, for every component and for stderr, at once; 'cairnctl logs
cairnd -f' then shows the difference. The change lasts until cairnd restarts,
which starts at its --log-level flag again.

Reading the level needs os:reader; changing it needs os:operator.

With -o json: {"nodes":[{"nodeName", "level"}]}, plus "previousLevel" when
changing it; levels by enum name (LOG_LEVEL_DEBUG).`,
		Example: `  cairnctl log-level
  cairnctl -n worker1 log-level debug
  cairnctl -n worker1 logs cairnd -f
  cairnctl -n cp1,cp2,cp3 log-level info -o json`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: logLevels,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return g.getLogLevel(cmd.Context())
			}
			level, err := parseLogLevel(args[0])
			if err != nil {
				return err
			}
			return g.setLogLevel(cmd.Context(), level)
		},
	}
}

func parseLogLevel(s string) (machinev1.LogLevel, error) {
	name := "LOG_LEVEL_" + strings.ToUpper(s)
	if v, ok := machinev1.LogLevel_value[name]; ok && v != 0 {
		return machinev1.LogLevel(v), nil
	}
	return 0, fmt.Errorf("%w: log level %q: want one of %s", ErrUsage, s, strings.Join(logLevels, ", "))
}

func levelLabel(l machinev1.LogLevel) string { return enumLabel(l.String(), "LOG_LEVEL_") }

func (g *globals) getLogLevel(ctx context.Context) error {
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	results := fanOut(ctx, c, t.nodes, func(ctx context.Context, ep endpoint, node string) (*machinev1.GetLogLevelResponse, error) {
		res, err := ep.machine.GetLogLevel(ctx, request(&machinev1.GetLogLevelRequest{}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	})
	return renderLogLevels(g, results, []string{"NODE", "LEVEL"}, func(r *machinev1.GetLogLevelResponse) []string {
		return []string{r.GetNodeName(), levelLabel(r.GetLevel())}
	})
}

func (g *globals) setLogLevel(ctx context.Context, level machinev1.LogLevel) error {
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	results := fanOut(ctx, c, t.nodes, func(ctx context.Context, ep endpoint, node string) (*machinev1.SetLogLevelResponse, error) {
		res, err := ep.machine.SetLogLevel(ctx, request(&machinev1.SetLogLevelRequest{Level: level}, node))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	})
	return renderLogLevels(g, results, []string{"NODE", "LEVEL", "PREVIOUS"}, func(r *machinev1.SetLogLevelResponse) []string {
		return []string{r.GetNodeName(), levelLabel(r.GetLevel()), levelLabel(r.GetPreviousLevel())}
	})
}

// renderLogLevels prints the nodes' answers as {"nodes":[...]} or as a
// table of row(answer), and reports failed nodes on stderr.
func renderLogLevels[T proto.Message](g *globals, results []nodeResult[T], header []string, row func(T) []string) error {
	if err := endpointError(results); err != nil {
		return err
	}
	if g.structured() {
		nodes := []any{}
		for _, r := range results {
			if r.err == nil {
				nodes = append(nodes, protoObject(r.val))
			}
		}
		if err := g.printData(orderedObject{{"nodes", nodes}}); err != nil {
			return err
		}
		return nodeErrors(g.streams.Err, results)
	}
	t := newTable(header...)
	for _, r := range results {
		if r.err == nil {
			t.add(row(r.val)...)
		}
	}
	if err := t.write(g.streams.Out); err != nil {
		return err
	}
	return nodeErrors(g.streams.Err, results)
}
