package netquic

import "github.com/yggrdb/yggr/engine"

// Metrics is a snapshot of a Transport's counters. Counters only grow, except
// that a removed peer's counters disappear with it.
type Metrics struct {
	Peers map[engine.NodeID]PeerMetrics
	// HandshakeFailures counts refused TLS handshakes in both directions,
	// including those of connections whose peer is unknown.
	HandshakeFailures uint64
	// UnknownPeerDrops counts Sends to a node that is not a peer.
	UnknownPeerDrops uint64
	// BadFrames and MismatchedFrom are the sums over Peers.
	BadFrames      uint64
	MismatchedFrom uint64
}

// PeerMetrics are the counters of one peer.
type PeerMetrics struct {
	Addr      string // "" if the peer only dialed us
	Connected bool
	// WireVersion is the frame version negotiated on the current
	// connection (1 with a node of the release before wire version 2),
	// 0 when not connected. Before a release drops an old version, every
	// peer should report the new one.
	WireVersion             int
	MessagesSent, BytesSent uint64 // frames written (Raft messages and calls)
	// DirectSent counts the Raft messages of MessagesSent that Send wrote
	// itself, from its caller's goroutine, rather than its send loop.
	DirectSent                      uint64
	MessagesReceived, BytesReceived uint64 // frames decoded (before sender checks)
	// Drops counts messages lost before reaching the wire: queue overflow
	// (oldest first), failed writes, unencodable messages, removal.
	Drops             uint64
	Reconnects        uint64 // connections adopted after the first
	HandshakeFailures uint64 // handshakes with this peer that we or it refused
	BadFrames         uint64 // undecodable frames received
	MismatchedFrom    uint64 // messages whose From differs from the certificate's node ID
	Misaddressed      uint64 // messages whose To is not this node
	QueuedMessages    int    // messages waiting to be sent
}
