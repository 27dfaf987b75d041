package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// annotationGroup marks the command groups that rejectUnknownSubcommands
// gave an action of their own, which is only to refuse.
const annotationGroup = "cairnctl/group"

// rejectUnknownSubcommands walks the tree under c and makes every command
// group (a command with subcommands and no action of its own) fail, with
// exit code 1, on an argument that names none of its subcommands. Cobra
// checks this only at the root: below it a group prints its help and exits
// 0 for "cairnctl gen secrets", which scripts take for success. Without
// arguments a group still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotationGroup] = "true"
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownSubcommand(cmd, args[0])
	}
}

// unknownSubcommand is the usage error for name under the group cmd,
// with cobra's suggestions and the group's commands.
func unknownSubcommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", strings.Join(s, `" or "`))
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return fmt.Errorf("%w: %s (%s commands: %s)", ErrUsage, msg, cmd.CommandPath(), strings.Join(names, ", "))
}
