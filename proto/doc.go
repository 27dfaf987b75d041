// Package proto holds Cairn's API definition: the .proto files under
// proto/cairn and the Go code generated from them under proto/gen. It has no
// Go code of its own; its tests check the generated packages. See DESIGN.md.
package proto
