package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// kubeletCSR is a PEM CSR for tmpl signed by key.
func kubeletCSR(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func kubeletSubject(name string) pkix.Name {
	return pkix.Name{CommonName: KubeNodeUserPrefix + name, Organization: []string{KubeNodesGroup}}
}

func TestSignKubeletCSR(t *testing.T) {
	ca := testKubeCA(t)
	now := time.Now()
	for name, newKey := range map[string]func() (crypto.Signer, error){
		"ecdsa p-256": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"rsa 2048":    func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	} {
		t.Run(name, func(t *testing.T) {
			key, err := newKey()
			require.NoError(t, err)
			csr := kubeletCSR(t, key, &x509.CertificateRequest{Subject: kubeletSubject("w1")})

			crt, err := SignKubeletCSR(ca, csr, "w1", KubeValidity, now)
			require.NoError(t, err)

			cert, err := ParseCertificatePEM(crt)
			require.NoError(t, err)
			assert.Equal(t, "system:node:w1", cert.Subject.CommonName)
			assert.Equal(t, []string{"system:nodes"}, cert.Subject.Organization)
			assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
			assert.Empty(t, cert.DNSNames)
			assert.Empty(t, cert.IPAddresses)
			assert.False(t, cert.IsCA)
			assert.True(t, cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()), "signed for the CSR's key")
			assert.WithinDuration(t, now.Add(KubeValidity), cert.NotAfter, time.Second)
			caCert, _, err := config.ParseCA(ca)
			require.NoError(t, err)
			pool := x509.NewCertPool()
			pool.AddCert(caCert)
			_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			require.NoError(t, err, "chains to the Kubernetes CA")

			// The pair the kubelet holds is current for its own identity only.
			keyDER, err := x509.MarshalPKCS8PrivateKey(key)
			require.NoError(t, err)
			pair := config.CertKeyPair{Crt: crt, Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}
			_, err = tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
			require.NoError(t, err)
			assert.True(t, KubeClientCurrent(pair, ca, "system:node:w1", []string{KubeNodesGroup}, now))
			assert.False(t, KubeClientCurrent(pair, ca, "system:node:w2", []string{KubeNodesGroup}, now))
		})
	}
}

func TestSignKubeletCSRCappedByTheCA(t *testing.T) {
	ca := testKubeCA(t)
	caCert, _, err := config.ParseCA(ca)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	crt, err := SignKubeletCSR(ca, kubeletCSR(t, key, &x509.CertificateRequest{Subject: kubeletSubject("w1")}), "w1", 100*365*24*time.Hour, time.Now())
	require.NoError(t, err)
	cert, err := ParseCertificatePEM(crt)
	require.NoError(t, err)
	assert.Equal(t, caCert.NotAfter, cert.NotAfter)
}

// Every way a CSR can ask for more than its own kubelet identity is
// refused, with ErrKubeletIdentity for another identity and ErrBadCSR for
// anything else.
func TestSignKubeletCSRRefusals(t *testing.T) {
	ca := testKubeCA(t)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	good := kubeletCSR(t, p256, &x509.CertificateRequest{Subject: kubeletSubject("w1")})
	tampered := func() []byte {
		b, _ := pem.Decode(good)
		der := append([]byte(nil), b.Bytes...)
		der[len(der)-5] ^= 0xff // inside the signature
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}()
	with := func(tmpl x509.CertificateRequest) []byte { return kubeletCSR(t, p256, &tmpl) }
	subj := kubeletSubject("w1")

	for name, tc := range map[string]struct {
		csr  []byte
		want error
		msg  string
	}{
		"another node":    {with(x509.CertificateRequest{Subject: kubeletSubject("w2")}), ErrKubeletIdentity, `"system:node:w2"`},
		"no prefix":       {with(x509.CertificateRequest{Subject: pkix.Name{CommonName: "w1", Organization: []string{KubeNodesGroup}}}), ErrKubeletIdentity, "may ask only"},
		"masters":         {with(x509.CertificateRequest{Subject: pkix.Name{CommonName: subj.CommonName, Organization: []string{KubeNodesGroup, KubeAdminGroup}}}), ErrKubeletIdentity, "system:masters"},
		"no group":        {with(x509.CertificateRequest{Subject: pkix.Name{CommonName: subj.CommonName}}), ErrKubeletIdentity, "exactly [system:nodes]"},
		"other attribute": {with(x509.CertificateRequest{Subject: pkix.Name{CommonName: subj.CommonName, Organization: subj.Organization, OrganizationalUnit: []string{"x"}}}), ErrBadCSR, "subject attribute 2.5.4.11"},
		"dns SAN":         {with(x509.CertificateRequest{Subject: subj, DNSNames: []string{"w1"}}), ErrBadCSR, "subject alternative names"},
		"ip SAN":          {with(x509.CertificateRequest{Subject: subj, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}), ErrBadCSR, "subject alternative names"},
		"extension":       {with(x509.CertificateRequest{Subject: subj, ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}}), ErrBadCSR, "extension 2.5.29.19"},
		"p-384":           {kubeletCSR(t, p384, &x509.CertificateRequest{Subject: subj}), ErrBadCSR, "P-384"},
		"rsa 1024":        {kubeletCSR(t, rsa1024, &x509.CertificateRequest{Subject: subj}), ErrBadCSR, "1024 bits"},
		"ed25519":         {kubeletCSR(t, ed, &x509.CertificateRequest{Subject: subj}), ErrBadCSR, "ed25519"},
		"bad signature":   {tampered, ErrBadCSR, "signature"},
		"not pem":         {[]byte("hello"), ErrBadCSR, "not a PEM"},
		"a certificate":   {[]byte(ca.Crt), ErrBadCSR, "not a PEM certificate request"},
		"garbage der":     {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}), ErrBadCSR, "bad certificate request"},
	} {
		t.Run(name, func(t *testing.T) {
			crt, err := SignKubeletCSR(ca, tc.csr, "w1", KubeValidity, time.Now())
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, tc.msg)
			assert.Empty(t, crt)
		})
	}

	_, err = SignKubeletCSR(ca, good, "", KubeValidity, time.Now())
	assert.ErrorIs(t, err, ErrBadKubeRequest, "no node name")
	_, err = SignKubeletCSR(ca, good, "w1", 0, time.Now())
	assert.ErrorIs(t, err, ErrBadKubeRequest, "no validity")
	_, err = SignKubeletCSR(config.CertKeyPair{Crt: ca.Crt}, good, "w1", KubeValidity, time.Now())
	assert.ErrorContains(t, err, "kubernetes CA", "a CA without its key signs nothing")
}
