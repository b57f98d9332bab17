// Package node is yggr's runtime: it drives an engine.Engine with real
// time, real storage (log.Store, snapshot.Store) and a real network
// (Network, network.go), and applies committed entries to a StateMachine.
//
// # Goroutines
//
// A Node runs these goroutines, all ended and awaited by Close (plus a
// compactor that deletes compacted log prefixes):
//
//   - the driver owns the engine. Each iteration it waits for an input (a
//     tick, a message, a proposal, a read, an admin request, a durability
//     report), drains what else is queued, steps the engine for each, and
//     turns the actions into one storage job. Messages that claim nothing
//     about the disk (the leader's AppendEntries, heartbeats and their
//     answers, pre-votes, read-index messages) go out at once, and
//     committed entries go straight to the apply goroutine.
//   - the storage goroutine makes each job durable (one Badger batch, one
//     sync), then sends the job's other messages and reports LogPersisted
//     to the driver. The driver never waits for a sync.
//   - the apply goroutine applies committed entries to the state machine,
//     answers proposal waiters and releases reads, so a slow state machine
//     never delays heartbeats or elections.
//   - a snapshot writer, at most one at a time, streams a point-in-time
//     image of the state machine into the snapshot store off both paths.
//
// # Caveats
//
// Disk stalls: once the storage write in progress is older than an
// election timeout, every message waits behind it (heartbeats included), so
// a leader with a stuck disk stops sending heartbeats and the other nodes
// elect a new leader; at most 16 jobs queue behind the disk before the
// driver itself waits.
package node
