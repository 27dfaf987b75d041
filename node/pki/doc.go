// Package pki issues and uses the cluster's certificates: node identities
// (one certificate per node, its server and client identity for the API and
// Raft, with the os:node role) signed by the cluster CA, and the TLS
// configurations built from them; and etcd's certificates (peer, server and
// client), signed by the separate etcd CA. See DESIGN.md for rotation.
package pki
