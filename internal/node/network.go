package node

import (
	"context"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"
)

// Network is what the runtime needs to talk to its peers:
// *netquic.Transport, and in tests the endpoints of internal/chaosnet. All
// methods are safe for concurrent use.
type Network interface {
	// Send queues m for m.To and returns at once. Each peer has a bounded
	// queue that drops its oldest messages when full (Raft retransmits).
	// The transport keeps m until it is encoded: the caller must not
	// modify m's slices afterwards. Messages to unknown peers are dropped
	// and counted.
	Send(m engine.Message)
	// Inbound delivers received Raft messages. From is the authenticated
	// peer: a message whose From differs from the sender's certificate is
	// dropped and counted. The channel is closed by Close.
	Inbound() <-chan engine.Message
	// Call sends req to the peer on its own stream and waits for the
	// response of the peer's call handler, or for ctx.
	Call(ctx context.Context, to engine.NodeID, req []byte) ([]byte, error)
	// SetCallHandler installs the function that answers peers' Calls. It
	// runs on its own goroutine per call; ctx ends when the caller gives up
	// or the transport closes.
	SetCallHandler(h func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error))
	// SetPeer adds a peer or changes its address.
	SetPeer(id engine.NodeID, addr string)
	// RemovePeer forgets a peer, drops its queue and closes its connection.
	RemovePeer(id engine.NodeID)
	// Metrics returns a snapshot of the counters.
	Metrics() netquic.Metrics
	// Close stops every goroutine and closes Inbound. It is idempotent.
	Close() error
}

var _ Network = (*netquic.Transport)(nil)
