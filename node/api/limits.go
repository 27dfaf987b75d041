package api

import (
	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// MaxRequestBytes bounds every request message the node API reads, after
// decompression: the largest configuration document plus room for the rest
// of an ApplyConfig request. Connect refuses a larger message with code
// resource_exhausted from its length prefix and discards it unbuffered, so
// an oversized request costs the node no memory. docs/api.md explains the
// number.
const MaxRequestBytes = config.MaxDocumentBytes + 64<<10

// requestLimits is the handler option that applies MaxRequestBytes.
func requestLimits() connect.HandlerOption { return connect.WithReadMaxBytes(MaxRequestBytes) }

// checkApplyConfig refuses, before the request is forwarded anywhere, a
// document that cannot be a configuration: empty or not UTF-8 text
// (invalid_argument), or larger than config.MaxDocumentBytes
// (resource_exhausted). A client other than cairnctl may send any bytes.
func checkApplyConfig(m *clusterv1.ApplyConfigRequest) error {
	if err := config.CheckDocument([]byte(m.GetConfig())); err != nil {
		return toConnect(err)
	}
	return nil
}
