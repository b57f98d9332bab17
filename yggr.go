// Package yggr is a tiny, single-binary, replicated, ordered key-value
// database: the SQLite of Raft.
//
//	db, err := yggr.Open("data", nil) // a single-node database
//
// Writes go through Raft; reads are linearizable by default.
package yggr
