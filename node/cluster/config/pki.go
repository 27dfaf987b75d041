package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// CAValidity is how long a generated cluster CA is valid.
const CAValidity = 10 * 365 * 24 * time.Hour

// API roles carried in a client certificate's Organization. The node API
// authorizes requests by these; any role starting with APIRolePrefix is accepted
// here so that later roles need no change to this package.
const (
	// APIRolePrefix starts every API role.
	APIRolePrefix = "os:"
	// APIRoleAdmin may call every API, including writes and secrets.
	APIRoleAdmin = "os:admin"
	// APIRoleOperator may read everything except secrets and run operational
	// actions (reboot, upgrade), but not change the configuration.
	APIRoleOperator = "os:operator"
	// APIRoleReader may only read, and never sees secrets.
	APIRoleReader = "os:reader"
)

// clockSkew backdates NotBefore so that a certificate is valid on a machine
// whose clock is slightly behind the issuer's.
const clockSkew = 5 * time.Minute

// NewCA generates an ECDSA P-256 self-signed certificate authority for the
// named cluster, valid for CAValidity, using randomness from r (crypto/rand
// when nil).
func NewCA(r io.Reader, clusterName string, now time.Time) (CertKeyPair, error) {
	return newCA(r, "cairn "+clusterName+" CA", now)
}

// NewEtcdCA generates the named cluster's etcd CA (secrets.etcdCA): like
// NewCA, with its own key and a common name saying it is etcd's, so that
// the two are told apart in a certificate chain.
func NewEtcdCA(r io.Reader, clusterName string, now time.Time) (CertKeyPair, error) {
	return newCA(r, "cairn "+clusterName+" etcd CA", now)
}

// NewKubernetesCA generates the named cluster's Kubernetes CA
// (secrets.kubernetesCA): like NewCA, with its own key and a common name
// saying it is Kubernetes'.
func NewKubernetesCA(r io.Reader, clusterName string, now time.Time) (CertKeyPair, error) {
	return newCA(r, "cairn "+clusterName+" kubernetes CA", now)
}

// NewFrontProxyCA generates the named cluster's front-proxy CA
// (secrets.frontProxyCA), for the aggregation layer: like NewCA, with its
// own key.
func NewFrontProxyCA(r io.Reader, clusterName string, now time.Time) (CertKeyPair, error) {
	return newCA(r, "cairn "+clusterName+" front-proxy CA", now)
}

// NewServiceAccountKey generates the key that signs service account tokens
// (secrets.serviceAccountKey): ECDSA P-256, PKCS#8 PEM. r is accepted for
// symmetry with the other generators, but Go ignores custom readers for
// key generation, so the key always comes from the runtime's secure source.
func NewServiceAccountKey(r io.Reader) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), orCryptoRand(r))
	if err != nil {
		return "", fmt.Errorf("generate service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode service account key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func newCA(r io.Reader, commonName string, now time.Time) (CertKeyPair, error) {
	r = orCryptoRand(r)
	key, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return CertKeyPair{}, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial(r)
	if err != nil {
		return CertKeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"cairn"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(r, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return CertKeyPair{}, fmt.Errorf("self-sign CA: %w", err)
	}
	return encodePair(der, key)
}

// ParseCA decodes and checks a CA pair: the certificate must parse and be a CA,
// and the key must parse and belong to it. Errors wrap ErrBadCA.
func ParseCA(ca CertKeyPair) (*x509.Certificate, crypto.Signer, error) {
	cert, err := parseCertPEM(ca.Crt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: crt: %w", ErrBadCA, err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("%w: crt is not a CA certificate", ErrBadCA)
	}
	key, err := parseKeyPEM(ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: key: %w", ErrBadCA, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("%w: key does not belong to crt", ErrBadCA)
	}
	return cert, key, nil
}

// GenerateAdminClientCert issues an ECDSA P-256 client certificate signed by ca
// for the API client name, carrying roles (each starting with "os:", such as
// APIRoleAdmin) in the subject's Organization, where the node API's mTLS
// authorization reads them. The certificate is valid from now for validity,
// but never past the CA's own expiry.
func GenerateAdminClientCert(ca CertKeyPair, name string, roles []string, validity time.Duration) (CertKeyPair, error) {
	if name == "" {
		return CertKeyPair{}, fmt.Errorf("%w: client name is empty", ErrBadOptions)
	}
	if validity <= 0 {
		return CertKeyPair{}, fmt.Errorf("%w: validity %s is not positive", ErrBadOptions, validity)
	}
	if len(roles) == 0 {
		return CertKeyPair{}, fmt.Errorf("%w: no roles given", ErrBadOptions)
	}
	for _, role := range roles {
		if !strings.HasPrefix(role, APIRolePrefix) || len(role) == len(APIRolePrefix) {
			return CertKeyPair{}, fmt.Errorf("%w: role %q does not start with %q", ErrBadOptions, role, APIRolePrefix)
		}
	}
	caCert, caKey, err := ParseCA(ca)
	if err != nil {
		return CertKeyPair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertKeyPair{}, fmt.Errorf("generate client key: %w", err)
	}
	serial, err := randomSerial(rand.Reader)
	if err != nil {
		return CertKeyPair{}, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: append([]string(nil), roles...)},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return CertKeyPair{}, fmt.Errorf("sign client certificate: %w", err)
	}
	return encodePair(der, key)
}

func randomSerial(r io.Reader) (*big.Int, error) {
	serial, err := rand.Int(r, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

func encodePair(certDER []byte, key *ecdsa.PrivateKey) (CertKeyPair, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return CertKeyPair{}, fmt.Errorf("encode private key: %w", err)
	}
	return CertKeyPair{
		Crt: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})),
		Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}, nil
}

// parseCertPEM decodes exactly one PEM CERTIFICATE block.
func parseCertPEM(s string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("unexpected data after the certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// ParsePrivateKeyPEM decodes a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA)
// private key, such as a CertKeyPair's key or secrets.serviceAccountKey.
func ParsePrivateKeyPEM(s string) (crypto.Signer, error) { return parseKeyPEM(s) }

// parseKeyPEM decodes a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA) private key.
func parseKeyPEM(s string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", key)
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}
