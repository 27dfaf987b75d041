package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func newConfigEditCommand(g *globals) *cobra.Command {
	var includeSecrets bool
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "edit",
		Short: "Edit the cluster configuration in $EDITOR and apply it",
		Long: `Open the cluster configuration in $VISUAL, else $EDITOR, else vi, and apply
the result when the editor exits, on the condition that nobody changed the
configuration in the meantime. Saving an unchanged or empty file cancels.
If the apply fails, the edited file is kept and its path printed so that it
can be fixed and applied with config apply.`,
		Example: `  cairnctl config edit
  EDITOR="code --wait" cairnctl config edit --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigEdit(cmd, g, includeSecrets, o.dryRun)
		},
	}
	cmd.Flags().BoolVar(&includeSecrets, "include-secrets", false, "edit with secrets shown instead of redacted")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "validate and show the diff without applying")
	return cmd
}

func runConfigEdit(cmd *cobra.Command, g *globals, includeSecrets, dryRun bool) error {
	ctx := cmd.Context()
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	node, err := singleNode(t, "config edit")
	if err != nil {
		return err
	}
	cur, err := getConfig(ctx, c, node, &clusterv1.GetConfigRequest{IncludeSecrets: includeSecrets})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cairnctl-edit-")
	if err != nil {
		return fmt.Errorf("create edit file: %w", err)
	}
	path := filepath.Join(dir, "cluster.yaml")
	orig := []byte(cur.GetConfig())
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		return fmt.Errorf("create edit file: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := runEditor(ctx, cmd, path); err != nil {
		return err
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read edited file: %w", err)
	}
	if len(bytes.TrimSpace(edited)) == 0 || bytes.Equal(edited, orig) {
		fmt.Fprintln(g.streams.Out, "edit cancelled: no changes")
		return nil
	}
	if err := checkEdited(path, edited); err != nil {
		keep = true
		fmt.Fprintf(g.streams.Err, "your edit is saved in %s\n", path)
		return err
	}
	res, err := applyConfig(ctx, c, node, edited, applyOptions{expectedRevision: cur.GetRevision(), dryRun: dryRun})
	if err != nil {
		keep = true
		fmt.Fprintf(g.streams.Err, "your edit is saved in %s; fix it and run: cairnctl config apply -f %s --expected-revision %d\n",
			path, path, cur.GetRevision())
		return err
	}
	return g.printApplyResult(res)
}

// runEditor runs the user's editor on path through the shell, so that an
// editor given with arguments ("code --wait") works.
func runEditor(ctx context.Context, cmd *cobra.Command, path string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	e := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "sh", path)
	e.Stdin, e.Stdout, e.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := e.Run(); err != nil {
		return fmt.Errorf("editor %q: %w", editor, err)
	}
	return nil
}

// checkEdited refuses an edited file a node would refuse: too large or not
// UTF-8 text (an empty one cancels the edit before this).
func checkEdited(path string, edited []byte) error {
	if len(edited) > config.MaxDocumentBytes {
		return tooLargeError(path, config.FormatBytes(len(edited)))
	}
	return checkText(path, edited)
}
