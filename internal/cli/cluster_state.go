package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile is the name of a local cluster's state record.
const stateFile = "state.json"

// clusterState is state.json: what cluster create set up, so that the
// other cluster commands can find and start every node. It records no
// PIDs: what runs is asked of each node's boot stage (see cluster_node.go).
type clusterState struct {
	Name   string `json:"name"`
	Subnet int    `json:"subnet"`
	// Cairnd is the binary the nodes run; cluster start runs it again.
	Cairnd string `json:"cairnd,omitempty"`
	// ConfigFile is the cluster.yaml every node is started with.
	ConfigFile string `json:"configFile,omitempty"`
	// Timings is cairnd's --timings for every node (default or fast).
	Timings string      `json:"timings,omitempty"`
	Nodes   []nodeState `json:"nodes"`
}

// nodeState is one node of a local cluster.
type nodeState struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	APIAddress string `json:"apiAddress"`
	LogFile    string `json:"logFile"`
	StateDir   string `json:"stateDir"`
}

// node returns the node called name.
func (st *clusterState) node(name string) (nodeState, bool) {
	for _, n := range st.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return nodeState{}, false
}

// writeState records st in dir/state.json.
func writeState(dir string, st *clusterState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), append(data, '\n'), 0o600)
}

// readState reads dir/state.json; a missing file is ErrClusterNotFound.
func readState(dir string) (*clusterState, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s in %s", ErrClusterNotFound, stateFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var st clusterState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// usedSubnets returns the subnets recorded by every cluster under root, so
// a stopped but not destroyed cluster keeps its addresses.
func usedSubnets(root string) map[int]bool {
	out := map[int]bool{}
	entries, err := os.ReadDir(root)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if st, err := readState(filepath.Join(root, e.Name())); err == nil {
			out[st.Subnet] = true
		}
	}
	return out
}
