package netquic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/quic-go/quic-go"
	"github.com/yggrdb/yggr/engine"
)

// ErrProbeUnreachable: Probe could not complete a handshake with the
// address for a reason other than its credentials (nothing listens there
// yet, a timeout): retrying may succeed.
var ErrProbeUnreachable = errors.New("netquic: peer unreachable")

// Probe checks that the node listening at addr holds this cluster's
// credentials: it completes a QUIC handshake with it, as it would to send
// it messages, and checks that its certificate chains to the cluster CA
// and names id (in insecure mode only the name is checked). A node that
// fails the check gets an error matching ErrUntrusted, ErrNoPeerCert,
// ErrNoNodeID or ErrPeerMismatch; one that cannot be reached, one matching
// ErrProbeUnreachable. The connection is closed at once; addr is not added
// as a peer.
func (t *Transport) Probe(ctx context.Context, id engine.NodeID, addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("%w: resolve %s: %v", ErrProbeUnreachable, addr, err)
	}
	tc := t.tls.Clone()
	var refused atomic.Pointer[error]
	verify := t.verifyConn(id)
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verify(cs)
		if err != nil {
			refused.Store(&err)
		}
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	c, err := t.qt.Dial(dctx, ua, tc, t.qconf)
	if e := refused.Load(); e != nil {
		return fmt.Errorf("%s at %s: %w", id, addr, *e)
	}
	if err != nil {
		var te *quic.TransportError
		if errors.As(err, &te) && te.ErrorCode.IsCryptoError() {
			// The peer refused our certificate: it belongs to another
			// cluster.
			return fmt.Errorf("%w: %s at %s refused this cluster's certificate (%v)", ErrUntrusted, id, addr, err)
		}
		return fmt.Errorf("%w: %s at %s: %v", ErrProbeUnreachable, id, addr, err)
	}
	c.CloseWithError(codeShutdown, "probe")
	return nil
}
