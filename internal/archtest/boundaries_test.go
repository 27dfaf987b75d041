package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/cairn-project/cairn/"

// rules: a package at or under the key may not import, even indirectly,
// any package of ours under the listed prefixes ("" is all of ours).
var rules = map[string][]string{
	"proto/":     {""}, // proto imports nothing of ours but itself
	"consensus/": {"node/", "gossip/", "cmd/"},
	"gossip/":    {"node/", "consensus/", "cmd/"},
	// The boot stage must not depend on the node it launches
	// (node/machine/boot/DESIGN.md); the one leaf it may use is in allowed.
	"node/machine/boot/": {""},
	// One health evaluation for the node API, cairnctl and the leader's
	// gates: it gathers through a Source and depends on neither side.
	"node/cluster/health/": {"internal/cli/", "cmd/", "node/api/", "node/cluster/formation/", "consensus/", "gossip/"},
	// The two planes (node/DESIGN.md): cluster-plane code acts for the whole
	// cluster and never reaches into this machine; machine-plane code acts
	// on this machine and reads the cluster only as the config document it
	// is given, never through Raft, formation or the config store.
	"node/cluster/": {"node/machine/", "node/api/", "internal/cli/", "cmd/"},
	"node/machine/": {"node/cluster/cfgstore/", "node/cluster/formation/", "node/cluster/health/",
		"node/cluster/resources/", "node/api/", "consensus/", "gossip/", "internal/cli/", "cmd/"},
	// The shared retry delay is a leaf, which is what lets the boot stage,
	// gossip and consensus use it.
	"internal/backoff/": {""},
	// The kubeconfig builder and merger is a leaf over client-go, so the
	// node (which builds) and cairnctl (which merges) share it freely.
	"internal/kubeconfig/": {""},
}

// allowed are exceptions to rules: packages of ours that a package at or
// under the key may import although a rule forbids them. Each is itself a
// leaf under a rule that forbids all of ours, so nothing comes in with it.
var allowed = map[string][]string{
	"node/machine/boot/": {"internal/backoff"},
}

func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"...").Output()
	require.NoError(t, err)
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		for prefix, forbidden := range rules {
			if !strings.HasPrefix(pkg+"/", prefix) {
				continue
			}
			checked++
			for _, dep := range fields[1:] {
				rel, ours := strings.CutPrefix(dep, module)
				if !ours {
					continue
				}
				if strings.HasPrefix(rel, "proto/") && strings.HasPrefix(pkg, "proto/") {
					continue
				}
				if slices.Contains(allowed[prefix], rel) {
					continue
				}
				for _, f := range forbidden {
					if strings.HasPrefix(rel+"/", f) {
						t.Errorf("%s imports %s, which its layer must not", pkg, rel)
					}
				}
			}
		}
	}
	require.Positive(t, checked, "no package matched the rules")
}
