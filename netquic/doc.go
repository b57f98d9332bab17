// Package netquic carries Raft messages between peers over QUIC with mutual
// TLS 1.3 and a versioned msgpack wire format.
//
// # Usage
//
// Build credentials once per cluster (NewCA, or CAFromSecret for a shared
// secret), issue one certificate per node (NewNodeCert), then:
//
//	tc, err := netquic.TLSConfig(caPEM, certPEM, keyPEM)
//	t, err := netquic.Listen(netquic.Config{ID: "n1", ListenAddr: ":7071", TLS: tc,
//		Peers: map[engine.NodeID]string{"n2": "10.0.0.2:7071"}})
//	defer t.Close()
//	t.Send(msg)              // never blocks
//	for m := range t.Inbound() { ... }
//
// The runtime declares the interface it needs (internal/node.Network);
// *Transport implements it, and so do the endpoints of the tests' in-process
// twin, internal/chaosnet, which puts calls through this package's codec
// (AppendCallRequest, DecodeCallResponse, ...).
//
// # Wire format
//
// The TLS handshake negotiates the connection's wire version by ALPN: a
// node offers "yggr/2" (Version) and "yggr/1" (the previous release's) and,
// as the server, picks the first of these the client offers, so two nodes
// of this release speak version 2 and a node of the previous release gets
// version 1, both ways, for a rolling upgrade (docs/upgrades.md). A peer
// that offers none of them (an incompatible release) is refused there, and
// both sides log ErrWireVersion. Every frame on a connection carries its
// version; a frame of another version is a bad frame.
//
// A frame is [version byte][kind byte][uvarint body length][msgpack body]
// (frame.go). The kind of a Raft message is its engine.MessageType; forwarded
// calls have kinds 0x40 (request) and 0x41 (response). A body is a msgpack array
// of every field of the message in a fixed order, holding only unsigned
// integers (shortest form), booleans and byte strings (node IDs included),
// with entries and the snapshot metadata as nested arrays (codec.go, the
// only place msgpack is configured). The snapshot metadata's membership is
// one byte string holding engine.AppendMembership's encoding, decoded by
// engine.DecodeMembership: the wire shares yggr's one membership encoding
// and its limit (engine.MaxMembers) with the log and snapshots. Version 1
// differs only there and in the version byte: it carried the voters and
// learners as two arrays of node IDs (codec_v1.go, to delete with version
// 1). Every field is encoded whatever the type, so any value the engine
// emits round-trips, including a stale-term MsgAppResp rejection with zero
// indexes. Decoding accepts exactly the
// canonical encoding: whatever decodes re-encodes to the same bytes. It
// validates node IDs, entry types and memberships, bounds every length by
// the bytes that remain before allocating, and returns an error wrapping
// ErrBadFrame; it never panics. testdata/v1 and testdata/v2 lock the bytes
// of every kind in each version (go test -run TestGolden -update rewrites
// them; the files of a released version must not change).
//
// # Connections
//
// One UDP socket serves both listening and dialing. A node dials a peer
// lazily when it has something to send; a connection either side opened is
// used by both. If both dial at once, both keep the connection dialed by
// the lower ID (a newer connection replaces one older than 2 s: the peer
// dialed because it lost the old one); the loser stays open for reading for
// 3 s, so nothing already written on it is lost. Raft messages travel on
// one long-lived unidirectional stream per direction at the highest
// priority, MsgSnap chunks on a second one at low priority, and each Call
// on its own bidirectional stream. Each peer has two bounded queues (Raft
// messages: QueueLen and QueueBytes; snapshot chunks: SnapQueueLen) that
// drop the oldest message when full, so Send never blocks and a dead peer
// costs bounded memory. Dialing backs off exponentially from 50 ms to 2 s
// with jitter. Keep-alives every 1 s and a 6 s idle timeout detect dead
// peers on a LAN; the stateless reset key is derived from the cluster CA
// and the node ID, so a crashed and restarted node resets its peers' stale
// connections at once, even with a fresh certificate.
//
// # Authentication
//
// Both sides present a certificate from the cluster CA naming a node ID in
// the URI SAN yggr://node/<id>. A handshake is refused (and counted in
// Metrics.HandshakeFailures) when the peer has no certificate, one from
// another CA, no node ID, or, when dialing, another node's ID. A received
// message whose From differs from the connection's certificate is dropped
// and counted (MismatchedFrom). A bad frame is dropped and counted; the
// stream continues if the frame's length was sound, and a connection is
// closed after 16 bad frames.
//
// # Goroutines
//
// A Transport runs: one accept loop; per peer, one sender per queue; per
// connection, one loop accepting unidirectional streams and one accepting
// bidirectional streams; per stream, one reader or call handler. Close
// cancels all of them, closes every connection and the socket, waits for
// them, then closes Inbound.
//
// # Caveats
//
//   - Send keeps the message until a sender goroutine encodes it: the
//     caller must not modify its slices afterwards. Decoded messages alias
//     the received frame.
//   - Messages on different streams (Raft messages, snapshot chunks) are
//     not ordered with respect to each other; messages written on a
//     connection that dies are lost. Raft tolerates both.
//   - A peer that only ever dialed us (no address known) is reachable only
//     while its connection lasts.
//   - Insecure mode authenticates nobody: the node ID in a peer's
//     self-signed certificate is taken on trust.
//   - Anyone holding the cluster secret (or CA key) can mint node
//     certificates; there is no revocation.
package netquic
