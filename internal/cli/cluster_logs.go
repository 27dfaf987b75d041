package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
)

// logTailLines is how many log lines cluster create shows per failing node.
const logTailLines = 20

// logTailBytes bounds how much of a log file is read for its tail.
const logTailBytes = 64 << 10

// printNodeLogs writes the last lines of the named nodes' logs.
func printNodeLogs(ctx context.Context, w io.Writer, st *clusterState, names []string) {
	for _, n := range observeNodes(ctx, st) {
		if !slices.Contains(names, n.Name) {
			continue
		}
		fmt.Fprintf(w, "\n--- %s (%s): last lines of %s ---\n", n.Name, n.describe(), n.LogFile)
		lines, err := tailFile(n.LogFile, logTailLines)
		if err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
			continue
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

// tailFile returns up to n last lines of a file.
func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, fi.Size()-logTailBytes)
	data, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return nil, err
	}
	return lastLines(data, n), nil
}

// lastLines returns up to n last lines of data, without the final newline.
func lastLines(data []byte, n int) []string {
	data = bytes.TrimRight(data, "\n")
	if len(data) == 0 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	lines = lines[max(0, len(lines)-n):]
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out
}
