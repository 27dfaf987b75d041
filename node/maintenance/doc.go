// Package maintenance is what a machine booted without a cluster
// configuration runs: a TLS server, with a certificate made at start, that
// serves only cairn.maintenance.v1.MaintenanceService (Version and
// ApplyConfig) until a valid configuration with an entry for this machine
// arrives, and then hands that configuration to its caller, which saves it
// and boots the node. See DESIGN.md.
package maintenance
