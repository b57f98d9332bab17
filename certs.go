package yggr

import (
	"crypto/tls"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"
)

// NewClusterCA creates a cluster certificate authority (PEM) for peer
// mutual TLS; see NewNodeCert and PeerTLSConfig.
func NewClusterCA(name string) (certPEM, keyPEM []byte, err error) { return netquic.NewCA(name) }

// NewNodeCert issues a certificate for node id, valid for the given host
// names and IP addresses, signed by the cluster CA.
func NewNodeCert(caCertPEM, caKeyPEM []byte, id string, hosts []string) (certPEM, keyPEM []byte, err error) {
	if !engine.ValidNodeID(engine.NodeID(id)) {
		return nil, nil, fmt.Errorf("%w: invalid node id %q", ErrInvalid, id)
	}
	return netquic.NewNodeCert(caCertPEM, caKeyPEM, engine.NodeID(id), hosts)
}

// PeerTLSConfig builds the mutual-TLS configuration for WithTLS from the
// cluster CA certificate and this node's certificate and key (PEM).
func PeerTLSConfig(caCertPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	return netquic.TLSConfig(caCertPEM, certPEM, keyPEM)
}
