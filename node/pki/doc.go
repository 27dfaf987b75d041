// Package pki issues and uses the cluster's certificates: node identities
// (one certificate per node, its server and client identity for the API and
// Raft, with the os:node role) signed by the cluster CA, and the TLS
// configurations built from them. See DESIGN.md for rotation.
package pki
