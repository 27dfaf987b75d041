package supervisor

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPSCheckWithCAFile: an https check passes only when the server's
// certificate chains to CAFile; without it the system roots do not know a
// cluster's own CA; a CA file that is missing or holds no certificate fails it.
func TestHTTPSCheckWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caFile := func(name string, s *httptest.Server) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600))
		return p
	}
	good := caFile("good.crt", srv)
	ctx := context.Background()

	assert.NoError(t, httpCheck(ctx, srv.URL+"/readyz", good))
	assert.ErrorIs(t, httpCheck(ctx, srv.URL+"/readyz", ""), ErrUnhealthy, "the system roots do not know the server's CA")
	assert.ErrorIs(t, httpCheck(ctx, srv.URL+"/readyz", filepath.Join(dir, "missing.crt")), ErrUnhealthy)
	empty := filepath.Join(dir, "empty.crt")
	require.NoError(t, os.WriteFile(empty, []byte("not pem"), 0o600))
	assert.ErrorIs(t, httpCheck(ctx, srv.URL+"/readyz", empty), ErrUnhealthy)

	h := HealthCheck{HTTP: srv.URL, CAFile: good}
	assert.NoError(t, h.validate())
	h.CAFile = "relative.crt"
	assert.Error(t, h.validate(), "a relative CA file is refused")
	assert.Error(t, (&HealthCheck{TCP: "127.0.0.1:1", CAFile: good}).validate(), "a CA file needs an https check")
}
