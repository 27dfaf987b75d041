package controllers

import "github.com/cairn-project/cairn/node/runtime"

// Definitions describes every resource type a node publishes, for name
// resolution and `cairnctl get rd`. A new type gets its entry here, beside
// its constant in types.go; a node test checks that none is missing.
func Definitions() []runtime.Definition {
	return []runtime.Definition{
		{Type: TypeClusterConfig, Aliases: []string{"receivedconfigs"},
			Description: "the copy of the cluster configuration this node received and follows, secrets redacted (the stored one is the cluster type ClusterConfig)"},
		{Type: TypeConfigStatus, Aliases: []string{"configstatuses"},
			Description: "the cluster configuration revision this node has applied"},
		{Type: TypeNetworkSpec, Aliases: []string{"networkspecs", "netspec"},
			Description: "this node's desired network, from its entry in the cluster configuration"},
		{Type: TypeNetworkStatus, Aliases: []string{"networkstatuses", "netstatus"},
			Description: "the outcome of converging the kernel to the network spec"},
		{Type: TypeKernelEvents, Aliases: []string{"kernelevents"},
			Description: "a count of kernel network notifications; a change wakes the observers"},
		{Type: TypeLinks, Aliases: []string{"link"},
			Description: "network links, as the kernel reports them"},
		{Type: TypeAddresses, Aliases: []string{"address", "addr", "addrs"},
			Description: "IP addresses, as the kernel reports them"},
		{Type: TypeRoutes, Aliases: []string{"route"},
			Description: "routes, as the kernel reports them"},
		{Type: TypeMachineStatus, Aliases: []string{"machinestatuses", "ms"},
			Description: "the mode cairnd runs in and each capability the machine has, or why it lacks it"},
		{Type: TypeCertificateStatus, Aliases: []string{"certificatestatuses", "certs"},
			Description: "this node's certificate: subject and validity (renewed at two thirds of its life)"},
		{Type: TypeConfigSeed, Aliases: []string{"configseeds"},
			Description: "whether the bootstrap cluster config is stored in Raft (control planes)"},
		{Type: runtime.TypeControllerStatus, Aliases: []string{"controllerstatuses", "controllers"},
			Description: "each controller and source of the node's runtime: running, failing (retried with backoff) or done, with its last error"},
		{Type: TypeServiceSpec, Aliases: []string{"servicespecs"},
			Description: "a service the node's controllers want supervised: program, arguments, environment, health check, dependencies"},
		{Type: TypeServiceApplied, Aliases: []string{"servicesapplied"},
			Description: "the service spec the supervisor runs now, as last applied"},
		{Type: TypeServiceStatus, Aliases: []string{"servicestatuses", "svc"},
			Description: "a supervised service's state, health, PID, restarts and last exit"},
		{Type: TypeKernelModuleSpec, Aliases: []string{"kernelmodulespecs", "kmodspec"},
			Description: "a kernel module this node wants loaded, from the image's needs and the config"},
		{Type: TypeKernelModuleStatus, Aliases: []string{"kernelmodulestatuses", "kmod", "kmods"},
			Description: "a wanted kernel module: loaded, built in, failed (with why) or skipped where the machine may not load modules"},
		{Type: TypeSysctlSpec, Aliases: []string{"sysctlspecs"},
			Description: "a kernel parameter this node wants set, from its entry in the cluster configuration"},
		{Type: TypeSysctlStatus, Aliases: []string{"sysctlstatuses", "sysctl", "sysctls"},
			Description: "a wanted kernel parameter: desired and observed value, whether it is applied, and why not (no such parameter, a refused value, a write the machine may not make)"},
		{Type: TypeHostnameStatus, Aliases: []string{"hostnamestatuses", "hostname"},
			Description: "the hostname this node wants and the one its kernel has, and why they differ"},
		{Type: TypeNodeHealth, Aliases: []string{"nodehealth"},
			Description: "the node's controllers and sources that are failing now, as its gossip health names them"},
		{Type: TypeNodeListed, Aliases: []string{"nodelisted"},
			Description: "whether the latest cluster configuration lists this node"},
		{Type: TypeNodeRemoval, Aliases: []string{"noderemovals"},
			Description: "this node leaving the cluster after the configuration dropped it"},
		{Type: TypeGossipStatus, Aliases: []string{"gossipstatuses"},
			Description: "this node's gossip health: join state, name conflicts, peers with a wrong key or label"},
	}
}
