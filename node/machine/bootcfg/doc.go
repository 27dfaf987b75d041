// Package bootcfg finds where a booting node gets its cluster config and
// its node name: the kernel command line in pid1 mode (cairn.config=,
// cairn.node=, and cairn.hostnet= for a VM's host-forward NIC), the
// environment in container mode. Parsing is pure (ParseCmdline,
// ParseSource, ParseHostNet, FromEnv); reading a source and applying the
// host NIC touch the machine (Source.Read, ApplyHostNet). See DESIGN.md.
package bootcfg
