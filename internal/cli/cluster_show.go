package cli

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newClusterShowCommand(g *globals) *cobra.Command {
	var loc clusterLocation
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the nodes of a local cluster and what runs for them",
		Long: `Show the nodes of a local cluster: name, role, API address and what runs
for each, asked of what runs it, never taken from PIDs recorded earlier.

docker: the cluster's network and image, then each node's container (its
address on the network, its volume, Docker's state of it, the host PID of
its cairnd and Docker's restart count).

process: each node's boot stage (its control socket) and /proc.

STATE is the boot stage's view of its cairnd (running, backoff after a
crash, stopped by 'cluster stop'), or down (nothing runs), unsupervised (a
cairnd runs without a boot stage, e.g. started by hand) or unreachable (a
boot stage runs but does not answer). RUNNING says whether any cairnd runs
for the node. PID is the node's cairnd, BOOT-PID its boot stage; RESTARTS
counts crashes the boot stage restarted. A "+N" after the state counts
processes of the node outside its boot stage; -o json lists them as
"unsupervised".`,
		Example: `  cairnctl cluster show
  cairnctl cluster show --name dev -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := loc.dir()
			if err != nil {
				return err
			}
			st, err := readState(dir)
			if err != nil {
				return err
			}
			p, err := provisionerFor(st, provisionerOptions{})
			if err != nil {
				return err
			}
			nodes := p.observe(cmd.Context(), st)
			if g.structured() {
				return g.printData(struct {
					Name        string         `json:"name"`
					Provisioner string         `json:"provisioner"`
					Subnet      int            `json:"subnet"`
					Image       string         `json:"image,omitempty"`
					Network     string         `json:"network,omitempty"`
					NetworkCIDR string         `json:"networkCIDR,omitempty"`
					Nodes       []observedNode `json:"nodes"`
				}{st.Name, cmp.Or(st.Provisioner, provisionerProcess), st.Subnet, st.Image, st.Network, st.NetworkCIDR, nodes})
			}
			if st.Provisioner == provisionerDocker {
				return showContainerTable(g, st, nodes, time.Now())
			}
			return showNodeTable(g, nodes, time.Now())
		},
	}
	loc.register(cmd)
	return cmd
}

func showNodeTable(g *globals, nodes []observedNode, now time.Time) error {
	t := newTable("NAME", "ROLE", "API", "RUNNING", "STATE", "PID", "BOOT-PID", "RESTARTS", "UPTIME")
	for _, n := range nodes {
		state := n.State
		if len(n.Unsupervised) > 0 && n.State != stateUnsupervised {
			state += " +" + strconv.Itoa(len(n.Unsupervised))
		}
		t.add(n.Name, n.Role, n.APIAddress, yesNo(n.Running), state,
			pidCell(n.PID), pidCell(n.BootPID), strconv.Itoa(n.Restarts), n.uptime(now))
	}
	return t.write(g.streams.Out)
}

// showContainerTable lists a docker cluster's containers, with its network
// and image above them.
func showContainerTable(g *globals, st *clusterState, nodes []observedNode, now time.Time) error {
	fmt.Fprintf(g.streams.Out, "network %s (%s), image %s\n\n", st.Network, st.NetworkCIDR, st.Image)
	t := newTable("NAME", "ROLE", "API", "ADDRESS", "CONTAINER", "VOLUME", "STATE", "PID", "RESTARTS", "UPTIME")
	for _, n := range nodes {
		t.add(n.Name, n.Role, n.APIAddress, n.Address, n.Machine, n.Volume, n.State,
			pidCell(n.PID), strconv.Itoa(n.Restarts), n.uptime(now))
	}
	return t.write(g.streams.Out)
}

func pidCell(pid int) string {
	if pid == 0 {
		return "-"
	}
	return strconv.Itoa(pid)
}
