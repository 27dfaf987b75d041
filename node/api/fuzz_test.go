package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// fuzzProcedures are the unary procedures FuzzAPIRequest sends bodies
// to: config and resource reads and writes of a control plane with a real
// store, and a machine read.
var fuzzProcedures = []string{
	clusterv1connect.ClusterServiceApplyConfigProcedure,
	clusterv1connect.ClusterServiceGetConfigProcedure,
	clusterv1connect.ClusterResourceServiceCreateResourceProcedure,
	clusterv1connect.ClusterResourceServiceUpdateResourceProcedure,
	clusterv1connect.ClusterResourceServiceDeleteResourceProcedure,
	clusterv1connect.ClusterResourceServiceGetResourceProcedure,
	clusterv1connect.ClusterResourceServiceListResourcesProcedure,
	machinev1connect.MachineServiceVersionProcedure,
}

// fuzzEncodings are how a body goes: Connect with the binary or the JSON
// codec, or gRPC (one length-prefixed message).
var fuzzEncodings = []string{"application/proto", "application/json", "application/grpc", "application/grpc+json"}

// FuzzAPIRequest sends arbitrary bodies — malformed protobuf and JSON,
// bad gRPC frames, deep nesting — to a control plane's API over TLS as an
// admin, so every request reaches its handler: each one is answered (no
// handler panics, which would reset the stream), and never with Connect's
// "internal" or "unknown", the codes of an error nobody described.
func FuzzAPIRequest(f *testing.F) {
	fx := newResourceFixture(f, 0)
	addr, clients := fx.addr, fx.http
	client := clients(config.APIRoleAdmin)
	f.Add(uint8(0), uint8(1), []byte(`{"config":"apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\n","expectedRevision":"1"}`))
	f.Add(uint8(2), uint8(1), []byte(`{"resource":{"type":"Widget","id":"w1","spec":{"size":3}}}`))
	f.Add(uint8(3), uint8(1), []byte(`{"resource":{"type":"Widget","id":"w1","spec":`+strings.Repeat(`{"a":`, 200)+`1`+strings.Repeat(`}`, 200)+`}}`))
	f.Add(uint8(6), uint8(0), []byte{0x0a, 0x06, 'W', 'i', 'd', 'g', 'e', 't'})
	f.Add(uint8(5), uint8(2), []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(uint8(1), uint8(3), []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, proc, enc uint8, body []byte) {
		procedure := fuzzProcedures[int(proc)%len(fuzzProcedures)]
		ct := fuzzEncodings[int(enc)%len(fuzzEncodings)]
		payload := body
		if strings.HasPrefix(ct, "application/grpc") {
			// One uncompressed frame of the body's length. (A compressed flag
			// without a grpc-encoding is a protocol error the gRPC spec
			// answers with INTERNAL: connect's, not ours.)
			frame := make([]byte, 5, 5+len(body))
			binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
			payload = append(frame, body...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+procedure, bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		if strings.HasPrefix(ct, "application/grpc") {
			req.Header.Set("TE", "trailers")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s (%s): no answer: %v", procedure, ct, err)
		}
		defer res.Body.Close()
		got, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err != nil {
			t.Fatalf("%s (%s): the answer broke off: %v", procedure, ct, err)
		}
		code := res.Header.Get("Grpc-Status") + res.Trailer.Get("Grpc-Status")
		if !strings.HasPrefix(ct, "application/grpc") {
			code = string(got)
		}
		// gRPC: 2 is unknown, 13 internal; Connect names them.
		for _, bad := range []string{`"code":"internal"`, `"code":"unknown"`} {
			if strings.Contains(code, bad) {
				t.Fatalf("%s (%s): an undescribed error: %s", procedure, ct, got)
			}
		}
		if code == "2" || code == "13" {
			t.Fatalf("%s (%s): an undescribed error: grpc-status %s %s", procedure, ct, code, res.Trailer.Get("Grpc-Message")+res.Header.Get("Grpc-Message"))
		}
	})
}
