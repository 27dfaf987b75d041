// Package integration holds black-box tests: they build cairnd, cairnctl and
// buf, create real local clusters of cairnd processes with
// `cairnctl cluster create`, and talk to them over the network only, as a
// user would (buf curl, the Connect API, signals to processes).
package integration
