package netquic

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// ALPN is the application protocol of wire format Version: "yggr/" and
// the version.
const ALPN = "yggr/2"

// protocols are the application protocols a node offers in its handshakes,
// preferred first: the current wire format and, for one release, the
// previous one (docs/upgrades.md). The server picks the first of its own
// that the client offers, so two nodes of this release speak Version and
// a node of the previous release gets versionV1. Two nodes that share no
// protocol refuse each other during the handshake (ErrWireVersion), before
// a frame is sent.
var protocols = []string{ALPN, alpnV1}

// versionOf returns the frame version byte of a negotiated protocol, 0 if
// it is none of protocols.
func versionOf(proto string) byte {
	switch proto {
	case ALPN:
		return Version
	case alpnV1:
		return versionV1
	}
	return 0
}

// ErrWireVersion is returned, and logged, when a peer does not speak this
// node's wire format: it runs a yggr release that cannot talk to this one.
// docs/upgrades.md says which releases can run together.
var ErrWireVersion = errors.New("netquic: peer speaks another wire format version (" + ALPN + " or " + alpnV1 + " here): it runs an incompatible yggr release")

// tlsAlertNoApplicationProtocol is the TLS alert a server sends when the
// client offers none of its ALPN protocols (RFC 7301); QUIC carries it as
// the crypto error 0x100 + alert.
const tlsAlertNoApplicationProtocol = 120

// nodeURIScheme and nodeURIHost form a node's identity in its certificate:
// the URI SAN yggr://node/<id>.
const (
	nodeURIScheme = "yggr"
	nodeURIHost   = "node"
)

// Errors of peer authentication. They are counted as handshake failures.
var (
	ErrNoPeerCert   = errors.New("netquic: peer presented no certificate")
	ErrUntrusted    = errors.New("netquic: peer certificate not signed by the cluster CA")
	ErrNoNodeID     = errors.New("netquic: peer certificate carries no valid node id")
	ErrPeerMismatch = errors.New("netquic: peer certificate names another node")
)

// certValidity is how long NewCA and NewNodeCert certificates last.
const certValidity = 10 * 365 * 24 * time.Hour

// NewCA creates a self-signed cluster CA with a fresh Ed25519 key. It
// returns the certificate and the PKCS #8 private key, PEM encoded.
func NewCA(clusterName string) (certPEM, keyPEM []byte, err error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: generate CA key: %w", err)
	}
	serial, err := randSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	return selfSignedCA(key, clusterName, serial, now.Add(-time.Hour), now.Add(certValidity))
}

// CAFromSecret derives a cluster CA deterministically from a shared secret:
// the Ed25519 key comes from HKDF-SHA-256 of the secret, and the validity
// dates and serial are fixed, so every node given the same secret builds
// byte-identical CA certificates and trusts the others. Anyone who knows the
// secret can mint node certificates: keep it as secret as a private key.
func CAFromSecret(secret string) (certPEM, keyPEM []byte, err error) {
	if len(secret) < 8 {
		return nil, nil, errors.New("netquic: cluster secret shorter than 8 bytes")
	}
	// "yggr/1" in the label is a key-derivation label, not the wire
	// protocol: keep it. Changing it would change the CA every release
	// derives from a secret, and nodes of two releases would refuse each
	// other's certificates.
	seed, err := hkdf.Key(sha256.New, []byte(secret), []byte("yggr cluster CA"), "yggr/1 ed25519 CA key", ed25519.SeedSize)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: derive CA key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	notBefore := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC)
	return selfSignedCA(key, "yggr cluster", big.NewInt(1), notBefore, notAfter)
}

func selfSignedCA(key ed25519.PrivateKey, name string, serial *big.Int, notBefore, notAfter time.Time) ([]byte, []byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name + " CA", Organization: []string{"yggr"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: create CA certificate: %w", err)
	}
	return encodePair(der, key)
}

// NewNodeCert issues a certificate for node id signed by the CA. The node ID
// is in the URI SAN yggr://node/<id> (which is what peers check) and in the
// common name; hosts become DNS or IP SANs. The key is a fresh Ed25519 key.
func NewNodeCert(caCertPEM, caKeyPEM []byte, id engine.NodeID, hosts []string) (certPEM, keyPEM []byte, err error) {
	if !engine.ValidNodeID(id) {
		return nil, nil, fmt.Errorf("netquic: invalid node id %q", id)
	}
	caPair, err := tls.X509KeyPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: load CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: parse CA certificate: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: generate node key: %w", err)
	}
	serial, err := randSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(id), Organization: []string{"yggr"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{nodeURI(id)},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caPair.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: create node certificate: %w", err)
	}
	return encodePair(der, key)
}

func nodeURI(id engine.NodeID) *url.URL {
	return &url.URL{Scheme: nodeURIScheme, Host: nodeURIHost, Path: "/" + string(id)}
}

func randSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("netquic: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func encodePair(der []byte, key crypto.PrivateKey) ([]byte, []byte, error) {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("netquic: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// TLSConfig builds the mutual TLS 1.3 configuration of a node: it presents
// the node certificate, requires one from every peer, and accepts a peer
// only if its certificate chains to the CA and names a valid node ID.
// Host names are not checked (peers are identified by node ID); the
// transport additionally checks that a dialed peer is the node it meant.
func TLSConfig(caCertPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caCertPEM) {
		return nil, errors.New("netquic: no CA certificate in PEM")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("netquic: load node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("netquic: parse node certificate: %w", err)
	}
	if _, err := nodeIDOf(leaf); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   slices.Clone(protocols),
		// Chain verification without host names happens in
		// VerifyConnection, on both sides.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeerCert(cs.PeerCertificates, pool)
			return err
		},
	}, nil
}

// verifyPeerCert checks that certs chain to pool (nil pool: no chain check,
// the insecure mode) and returns the node ID of the leaf.
func verifyPeerCert(certs []*x509.Certificate, pool *x509.CertPool) (engine.NodeID, error) {
	if len(certs) == 0 {
		return "", ErrNoPeerCert
	}
	if pool != nil {
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := certs[0].Verify(opts); err != nil {
			return "", fmt.Errorf("%w: %v", ErrUntrusted, err)
		}
	}
	return nodeIDOf(certs[0])
}

func nodeIDOf(c *x509.Certificate) (engine.NodeID, error) {
	for _, u := range c.URIs {
		if u.Scheme == nodeURIScheme && u.Host == nodeURIHost && len(u.Path) > 1 {
			id := engine.NodeID(u.Path[1:])
			if engine.ValidNodeID(id) {
				return id, nil
			}
		}
	}
	return "", ErrNoNodeID
}

// insecureTLS builds a throwaway self-signed identity for id: development
// only, peers are not verified beyond naming a node ID.
func insecureTLS(id engine.NodeID) (*tls.Config, error) {
	caCert, caKey, err := NewCA("insecure " + string(id))
	if err != nil {
		return nil, err
	}
	cert, key, err := NewNodeCert(caCert, caKey, id, nil)
	if err != nil {
		return nil, err
	}
	c, err := TLSConfig(caCert, cert, key)
	if err != nil {
		return nil, err
	}
	c.RootCAs, c.ClientCAs, c.VerifyConnection = nil, nil, nil
	return c, nil
}
