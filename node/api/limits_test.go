package api

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

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

// Past its limit the listener closes what it accepts, and a closed
// connection gives its slot back (once, however often it is closed).
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := newLimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	refused := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	dial()
	dial()
	first, second := <-accepted, <-accepted
	third := dial()
	assert.True(t, refused(third), "the third connection is closed by the server")
	require.NoError(t, first.Close())
	_ = first.Close() // a second close gives nothing back
	dial()
	fourth := <-accepted
	fifth := dial()
	assert.True(t, refused(fifth), "one slot came back, not two")
	_ = second.Close()
	_ = fourth.Close()
}
