package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	kubeletoptions "k8s.io/kubernetes/cmd/kubelet/app/options"
)

// printFlags writes every flag of the components Cairn configures, with
// its type, as JSON: {"kube-apiserver": {"flag-name": "type", ...}, ...}.
// Cairn's config validation reads it (node/cluster/config/kubeflags.json,
// `make kube-flags`) to refuse an extra argument the component does not
// have, or a value of the wrong type, before any node runs it.
func printFlags() error {
	out := map[string]map[string]string{}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		out[name] = flagTypes(components[name]().Flags())
	}
	// kubelet parses its own flag set (DisableFlagParsing), built as its
	// command builds it.
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	kubeletoptions.NewKubeletFlags().AddFlags(fs)
	kc, err := kubeletoptions.NewKubeletConfiguration()
	if err != nil {
		return err
	}
	kubeletoptions.AddKubeletConfigFlags(fs, kc)
	kubeletoptions.AddGlobalFlags(fs)
	out["kubelet"] = flagTypes(fs)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

// flagTypes lists a flag set's flags (but help) and their value types.
func flagTypes(fs *pflag.FlagSet) map[string]string {
	m := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			m[f.Name] = f.Value.Type()
		}
	})
	return m
}

// runTool runs kube's own subcommands (not components); false when args
// name none.
func runTool(args []string) (bool, error) {
	if len(args) == 0 || args[0] != "flags" {
		return false, nil
	}
	if len(args) > 1 {
		return true, fmt.Errorf("usage: kube flags (got %s)", strings.Join(slices.Clone(args[1:]), " "))
	}
	return true, printFlags()
}
