package api

import (
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func TestCheckApplyConfigRefusesWhatCannotBeAConfiguration(t *testing.T) {
	valid := "apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\n"
	for name, tc := range map[string]struct {
		doc  string
		code connect.Code
		msg  string
	}{
		"empty":         {"", connect.CodeInvalidArgument, "the document is empty"},
		"white space":   {" \n\t\n", connect.CodeInvalidArgument, "the document is empty"},
		"NUL bytes":     {"kind: \x00\x01\x02", connect.CodeInvalidArgument, "not UTF-8 text (byte 0x00 at offset 6)"},
		"invalid UTF-8": {"\x89PNG\r\n", connect.CodeInvalidArgument, "not UTF-8 text (byte 0x89 at offset 0)"},
		"too large": {valid + "#" + strings.Repeat("x", config.MaxDocumentBytes), connect.CodeResourceExhausted,
			"the limit is 4 MiB"},
	} {
		t.Run(name, func(t *testing.T) {
			err := checkApplyConfig(&clusterv1.ApplyConfigRequest{Config: tc.doc})
			require.Equal(t, tc.code, connect.CodeOf(err), "%v", err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	require.NoError(t, checkApplyConfig(&clusterv1.ApplyConfigRequest{Config: valid + "# é, tabs\t and CRLF\r\n"}))
	require.NoError(t, checkApplyConfig(&clusterv1.ApplyConfigRequest{Config: valid + "#" + strings.Repeat("x", config.MaxDocumentBytes-len(valid)-2) + "\n"}))
}
