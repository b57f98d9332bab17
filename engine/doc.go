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
// The host executes the actions of one Step in order. Every message carries
// its sender's term, and a vote answer its vote, so no Send may be
// performed before every earlier PersistHardState that changed the term or
// the vote is durable. Beyond that, what a message claims decides what it
// waits for:
//
//   - MsgAppResp acknowledges log contents: it waits until every earlier
//     persist action (PersistEntries, TruncateLog, WriteSnapshotChunk,
//     RestoreSnapshot) is durable.
//   - MsgSnapResp only paces a snapshot transfer: it waits for the same
//     writes except WriteSnapshotChunk. A follower that restarts forgets
//     the snapshot it was receiving and has the leader send it again from
//     offset 0, so the engine never relies on a partial snapshot being
//     durable; a host that resumes one (skipping bytes it holds) resumes
//     only from bytes it made durable. A chunk with Done must be durable
//     (the snapshot published) before the RestoreSnapshot after it.
//   - every other message, the leader's AppendEntries included (Raft thesis
//     §10.2.1), claims nothing about the sender's disk and may go out while
//     earlier log writes are still in progress. The leader counts its own
//     log toward a quorum only after the host reports the write with a
//     LogPersisted event.
//   - a PersistHardState that changed only Commit need not be durable before
//     anything: a restarted node re-learns its commit index.
//
// A host that simply makes every persist action durable before any later
// Send (as internal/sim does) satisfies the contract.
//
// # Caveats
//
// The engine keeps the live log (the entries after the snapshot floor) in
// memory; SnapshotEntries, MaxLogEntries and MaxLogBytes bound it by asking
// the host for snapshots. Entry data and message payloads passed in events are
// owned by the engine afterwards; the host must not modify them.
//
// A ReadIndex round started for reads goes only to a quorum of voters (the
// ones that acknowledged the newest rounds, see readindex.go). When one of
// them stops answering, the reads of that round wait for the next heartbeat
// interval, whose round goes to every follower; later rounds pass the
// silent voter over.
package engine
