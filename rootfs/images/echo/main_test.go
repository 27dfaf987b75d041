package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

func TestHandler(t *testing.T) {
	h := handler("pod-a", "10.244.1.7", "v9")
	code, body := get(t, h, "/")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "hostname: pod-a\npod-ip: 10.244.1.7\nversion: v9\n", body)
	code, body = get(t, h, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	code, _ = get(t, h, "/nothing")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestPodIPPrefersTheEnvironment(t *testing.T) {
	t.Setenv("POD_IP", "10.0.0.9")
	assert.Equal(t, "10.0.0.9", podIP())
	t.Setenv("POD_IP", "")
	ip := podIP()
	assert.NotEqual(t, "127.0.0.1", ip, "never loopback")
}
