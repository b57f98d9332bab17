// Package opener hands the root package's opening of a runtime node to
// package raft.
//
// Package raft imports the root, so that its users configure a node with
// the root's options (yggr.WithID, yggr.WithClusterSecret, ...) and meet
// the root's errors and Status. Opening a node the way yggr.Open does
// (options, identity record, directory lock, peer security) needs the
// root's unexported option set, which the root cannot export without
// exporting internal types; so the root's init sets Open, and package raft
// calls it. Nothing else may use this package.
package opener

import "github.com/yggrdb/yggr/internal/node"

// Open opens a runtime node in dir for the state machine sm, as yggr.Open
// does for the key-value store. opts is a []yggr.Option; the result is a
// value of the root's that package raft asserts to its interface. It is
// set by the root package's init.
var Open func(dir string, peers []string, sm node.StateMachine, opts any) (any, error)
