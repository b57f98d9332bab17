// Package node is yggr's runtime: it drives an engine.Engine with real
// time, real storage (log.Store, snapshot.Store) and a real network
// (netquic.Network), and applies committed entries to a StateMachine.
//
// # Goroutines
//
// A Node runs three kinds of goroutine, all ended and awaited by Close:
//
//   - the driver owns the engine. Each iteration it waits for an input (a
//     tick, a message, a proposal, a read, an admin request), drains what
//     else is queued, steps the engine for each, then executes the actions
//     in contract order: the leader's AppendEntries go out first, then the
//     iteration's storage writes are made durable in one batch and one
//     sync, then the other messages go out, then committed entries are
//     handed to the apply goroutine.
//   - the apply goroutine applies committed entries to the state machine,
//     answers proposal waiters and releases reads, so a slow state machine
//     never delays heartbeats or elections.
//   - a snapshot writer, at most one at a time, streams a point-in-time
//     image of the state machine into the snapshot store off both paths.
//
// # Caveats
//
// The driver performs the fsync itself. A disk that stalls stalls the
// driver, so a leader with a stuck disk stops sending heartbeats and the
// other nodes elect a new leader after an election timeout; that is the
// intended disk-stall behaviour.
package node
