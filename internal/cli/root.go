package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Streams are the standard streams commands read from and write to. Tests
// inject buffers; Main uses the process's own.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Main runs cairnctl with the process's arguments and streams, cancelling
// on SIGINT or SIGTERM, and returns the exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, args, Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}

// Execute runs one cairnctl command line and returns its exit code: 0 on
// success, the code of an *ExitError, or 1 for any other error, which it
// prints to s.Err with the API's error details spelled out.
func Execute(ctx context.Context, args []string, s Streams) int {
	root := NewRootCommand(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	return reportError(s.Err, err)
}

// NewRootCommand builds the whole cairnctl command tree writing to s.
func NewRootCommand(s Streams) *cobra.Command {
	g := &globals{streams: s}
	root := &cobra.Command{
		Use:   "cairnctl",
		Short: "Operate Cairn clusters through the node API",
		Long: `cairnctl operates Cairn clusters. It talks to the node API of one endpoint
(the first reachable one of the current context) and reaches other nodes
through it with --nodes.

Endpoints, nodes and the current context come from the cairnconfig file:
--cairnconfig, else $CAIRNCONFIG, else $HOME/.cairn/config.`,
		Example: `  # Start a local cluster of cairnd processes and look at it.
  cairnctl cluster create
  cairnctl get members
  cairnctl health

  # Ask two nodes for their own view of the membership.
  cairnctl -n cp1,worker1 get members --stale`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return g.validate() },
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	g.register(root)
	root.AddCommand(
		newGenCommand(g),
		newConfigCommand(g),
		newApplyConfigCommand(g),
		newGetCommand(g),
		newConsensusCommand(g),
		newVersionCommand(g),
		newHealthCommand(g),
		newClusterCommand(g),
		newServicesCommand(g),
		newServiceCommand(g),
		newLogsCommand(g),
		newLogLevelCommand(g),
		newPsCommand(g),
		newMountsCommand(g),
		newDisksCommand(g),
		newLsCommand(g),
		newReadCommand(g),
		newDmesgCommand(g),
		newRebootCommand(g),
		newShutdownCommand(g),
		newResetCommand(g),
		newGossipCommand(g),
		newEtcdCommand(g),
		newKubeconfigCommand(g),
		newImageCommand(g),
		newArtifactCommand(g),
		newUpgradeCommand(g),
	)
	root.InitDefaultCompletionCmd() // now, so that its group is walked too
	rejectUnknownSubcommands(root)
	return root
}
