// Package cli implements cairnctl, the operator command line for Cairn
// clusters: generating cluster configurations, reading and changing the
// replicated configuration, inspecting membership and consensus, checking
// health, and running local clusters of cairnd processes.
//
// Every command is a cobra command built by NewRootCommand; cmd/cairnctl only
// calls Main. Commands talk to nodes through the node API (Connect over
// HTTP/2 cleartext, gRPC protocol), one endpoint at a time, and address other
// nodes with the Cairn-Node request header, which the receiving node proxies.
package cli
