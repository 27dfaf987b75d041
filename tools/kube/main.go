// Command kube is the Kubernetes components the Cairn images ship, as one
// multi-call binary: kube-apiserver, kube-controller-manager,
// kube-scheduler, kube-proxy, kubelet and kubectl from k8s.io/kubernetes.
// One binary links the shared packages once, which on 2 cores is both the
// cheaper build and the smaller image. It picks the component from the name
// it was run as (a link named kube-apiserver, say) or from its first
// argument: `kube kube-apiserver --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	_ "time/tzdata" // CronJob time zones (kube-controller-manager)

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// components maps each name to its command, built only when it runs.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              proxy.NewProxyCommand,
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kubectl": func() *cobra.Command {
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck // as kubectl's own main
		return kubectlcmd.NewDefaultKubectlCommand()
	},
}

func main() {
	name := filepath.Base(os.Args[0])
	if ran, err := runTool(os.Args[1:]); ran {
		if err != nil {
			fmt.Fprintln(os.Stderr, "kube:", err)
			os.Exit(1)
		}
		return
	}
	if _, ok := components[name]; !ok {
		if len(os.Args) < 2 || components[os.Args[1]] == nil {
			names := make([]string, 0, len(components))
			for n := range components {
				names = append(names, n)
			}
			slices.Sort(names)
			fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [ARGS...] (or run it as a link named COMPONENT)\n       kube flags (every component's flags and their types, as JSON)\ncomponents: %s\n", strings.Join(names, ", "))
			os.Exit(2)
		}
		name = os.Args[1]
		os.Args = append([]string{name}, os.Args[2:]...)
	}
	os.Exit(cli.Run(components[name]()))
}
