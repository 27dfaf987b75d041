package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

// shownNode is a node of cluster show -o json: its state.json entry plus
// whether it runs.
type shownNode struct {
	nodeState
	Running bool `json:"running"`
}

func newClusterShowCommand(g *globals) *cobra.Command {
	var loc clusterLocation
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the nodes of a local cluster",
		Long: `Show the node processes of a local cluster from its state.json: name, role,
API address, PID and whether the process still runs. With -o json it prints
state.json with "running" added to each node.`,
		Example: `  cairnctl cluster show
  cairnctl cluster show --name dev -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir, err := loc.dir()
			if err != nil {
				return err
			}
			st, err := readState(dir)
			if err != nil {
				return err
			}
			return g.showCluster(st)
		},
	}
	loc.register(cmd)
	return cmd
}

func (g *globals) showCluster(st *clusterState) error {
	nodes := make([]shownNode, len(st.Nodes))
	for i, n := range st.Nodes {
		nodes[i] = shownNode{nodeState: n, Running: processRunning(n.PID) && processIsNode(n.PID, n.StateDir)}
	}
	if g.structured() {
		return g.printData(struct {
			Name   string      `json:"name"`
			Subnet int         `json:"subnet"`
			Nodes  []shownNode `json:"nodes"`
		}{st.Name, st.Subnet, nodes})
	}
	t := newTable("NAME", "ROLE", "API", "PID", "RUNNING")
	for _, n := range nodes {
		t.add(n.Name, n.Role, n.APIAddress, strconv.Itoa(n.PID), yesNo(n.Running))
	}
	return t.write(g.streams.Out)
}
