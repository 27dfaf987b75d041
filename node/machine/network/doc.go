// Package network is the kernel-facing half of Cairn's host network: it turns
// a node's network configuration into links, addresses and routes through
// netlink, and reads them back.
//
// It is split the way the Talos network pipeline is. A [Desired] spec is
// built from configuration ([DesiredFrom]) and is only ever applied
// ([Apply]); an [Observed] status is only ever read from the kernel
// ([Observe]). [Plan] runs the same diff as Apply without touching the
// kernel, for the process mode that reports what it would change.
//
// Apply changes only what Cairn owns: the links named in the spec, and the
// addresses and routes that the previous spec (prev) or the next one (next)
// lists. Addresses and routes added by anyone else survive every Apply. Like
// Tailscale's router, Apply diffs desired against current state, keeps going
// past single failures and returns them joined with [errors.Join].
//
// Every function takes a *netlink.Handle, so the same code drives the host
// namespace (pid1 and container modes) and the throwaway namespaces of the
// tests. The hostname lives in the UTS namespace rather than behind a netlink
// handle, so [SetHostname] is separate from Apply.
package network
