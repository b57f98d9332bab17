// Package engine implements the Raft consensus protocol as a pure state
// machine: one type, [Engine], and one method that matters, [Engine.Step],
// which takes an [Event] and returns the [Action]s the host must carry out.
//
// The engine does no I/O, starts no goroutines and reads no clock. Time
// arrives only as [Tick] events; randomness (election timeouts) comes from a
// PCG seeded by [Config.Seed]. The same state and the same event always yield
// the same actions, which is what lets internal/sim replay a whole cluster
// from one seed.
//
// The protocol follows Ongaro's dissertation ("Consensus: Bridging Theory and
// Practice", 2014); comments cite it as "Raft §x.y" (sections of the paper
// where the paper has them, of the thesis otherwise).
//
// # Usage
//
//	e, err := engine.New(engine.Config{ID: "n1", Peers: []engine.NodeID{"n1", "n2", "n3"}})
//	actions := e.Step(engine.Recover{...}) // once, from durable state
//	for ev := range events {
//		for _, a := range e.Step(ev) {
//			// execute a in order; see the ordering contract on Action.
//		}
//	}
//
// # Ordering and durability contract
//
// The host executes the actions of one Step in order. Every persist action
// (PersistHardState, PersistEntries, TruncateLog, WriteSnapshotChunk,
// RestoreSnapshot) must be durable before any later Send is performed, with
// two exceptions:
//
//   - a leader's AppendEntries (MsgApp) may be sent while a PersistEntries
//     before it is still being written (Raft thesis §10.2.1), provided every
//     PersistHardState before it that changed the term or the vote is
//     durable. The leader counts its own log toward a quorum only after the
//     host reports the write with a LogPersisted event. (A single voter
//     elects itself and sends to its learners in one Step, so the host must
//     check the hard-state condition itself.)
//   - a PersistHardState that changed only Commit need not be durable before
//     anything: a restarted node re-learns its commit index from the leader.
//
// # Caveats
//
// The engine keeps the live log (the entries after the snapshot floor) in
// memory; SnapshotEntries, MaxLogEntries and MaxLogBytes bound it by asking
// the host for snapshots. Entry data and message payloads passed in events are
// owned by the engine afterwards; the host must not modify them.
package engine
