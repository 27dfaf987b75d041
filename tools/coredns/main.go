// Command coredns is the cluster DNS the Cairn images ship: CoreDNS from
// its Go module (pinned in go.mod), with only the plugins a Cairn cluster's
// Corefile uses compiled in — kubernetes for Service and Pod names, and
// the usual health, ready, metrics, errors, log, cache, loop, reload,
// loadbalance and forward — in plugin.cfg's order, which is the order
// CoreDNS runs them in. Upstream's main links every plugin (cloud DNS
// providers, etcd, ...); this one builds in a fraction of the time.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives are the compiled-in plugins in plugin.cfg's order.
var directives = []string{"reload", "ready", "health", "prometheus", "errors", "log", "loadbalance", "cache", "kubernetes", "loop", "forward"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
