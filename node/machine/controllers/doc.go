// Package controllers holds the node's controllers: each turns the
// replicated cluster config and observed local state into local resources
// and actions, run by node/runtime (declared inputs and outputs, retries,
// cleanup). One controller per file, named for what it produces.
package controllers
