package config

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateAdminClientCert(t *testing.T) {
	ca := testSecrets(t).CA
	caCert, _, err := ParseCA(ca)
	require.NoError(t, err)

	pair, err := GenerateAdminClientCert(ca, "alice", []string{APIRoleAdmin, "os:etcd:backup"}, 24*time.Hour)
	require.NoError(t, err)
	cert, err := parseCertPEM(pair.Crt)
	require.NoError(t, err)
	key, err := parseKeyPEM(pair.Key)
	require.NoError(t, err)
	assert.True(t, publicKeysEqual(cert.PublicKey, key.Public()), "key belongs to the certificate")

	assert.Equal(t, "alice", cert.Subject.CommonName)
	assert.Equal(t, []string{"os:admin", "os:etcd:backup"}, cert.Subject.Organization)
	assert.False(t, cert.IsCA)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), cert.NotAfter, time.Minute)

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "chains to the cluster CA for client auth")
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.Error(t, err, "not usable as a server certificate")
}

func TestGenerateAdminClientCertCappedByCA(t *testing.T) {
	ca := testSecrets(t).CA
	caCert, _, err := ParseCA(ca)
	require.NoError(t, err)
	pair, err := GenerateAdminClientCert(ca, "bob", []string{APIRoleReader}, 100*365*24*time.Hour)
	require.NoError(t, err)
	cert, err := parseCertPEM(pair.Crt)
	require.NoError(t, err)
	assert.Equal(t, caCert.NotAfter, cert.NotAfter)
}

func TestGenerateAdminClientCertErrors(t *testing.T) {
	ca := testSecrets(t).CA
	mismatched := CertKeyPair{Crt: ca.Crt, Key: anotherCA(t).Key}
	leaf, err := GenerateAdminClientCert(ca, "leaf", []string{APIRoleOperator}, time.Hour)
	require.NoError(t, err)

	tests := []struct {
		name     string
		ca       CertKeyPair
		client   string
		roles    []string
		validity time.Duration
		want     error
	}{
		{"no name", ca, "", []string{APIRoleAdmin}, time.Hour, ErrBadOptions},
		{"no roles", ca, "a", nil, time.Hour, ErrBadOptions},
		{"role without prefix", ca, "a", []string{"admin"}, time.Hour, ErrBadOptions},
		{"bare prefix", ca, "a", []string{"os:"}, time.Hour, ErrBadOptions},
		{"zero validity", ca, "a", []string{APIRoleAdmin}, 0, ErrBadOptions},
		{"empty CA", CertKeyPair{}, "a", []string{APIRoleAdmin}, time.Hour, ErrBadCA},
		{"mismatched CA key", mismatched, "a", []string{APIRoleAdmin}, time.Hour, ErrBadCA},
		{"leaf instead of CA", leaf, "a", []string{APIRoleAdmin}, time.Hour, ErrBadCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := GenerateAdminClientCert(tt.ca, tt.client, tt.roles, tt.validity)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestValidateRejectsLeafAsCA(t *testing.T) {
	c := fixture(t)
	leaf, err := GenerateAdminClientCert(c.Secrets.CA, "leaf", []string{APIRoleAdmin}, time.Hour)
	require.NoError(t, err)
	c.Secrets.CA = leaf
	var ve *ValidationError
	require.ErrorAs(t, c.Validate(), &ve)
	assert.Equal(t, []string{"secrets.ca.crt"}, ve.Fields())
	assert.Contains(t, ve.Violations[0].Message, "not a CA certificate")
}
