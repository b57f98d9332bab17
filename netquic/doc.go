// Package netquic carries Raft messages between peers over QUIC with mutual
// TLS and a versioned msgpack wire format.
package netquic
