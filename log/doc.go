// Package log keeps a node's durable Raft state (log entries, hard state,
// snapshot metadata) in Badger.
package log
