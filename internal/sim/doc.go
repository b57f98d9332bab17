// Package sim is a deterministic cluster simulator for the engine, in the
// manner of TigerBeetle's VOPR: one goroutine, one seed (a math/rand/v2
// PCG), virtual ticks, no wall clock and no real I/O.
//
// A run simulates N engines, each on a simulated host that carries out the
// engine's actions per the contract of engine/action.go: a disk that keeps
// durable and pending writes apart (the simulator decides when an fsync
// happens; a crash keeps a random prefix of the pending writes), Sends held
// until the writes before them are durable (a leader's MsgApp may leave
// early), a KV state machine with a running hash, snapshots taken on
// SnapshotHint and streamed in chunks. Around them: a network that drops,
// duplicates, delays and reorders messages, stalls links (their queue
// arrives late, in a burst) and partitions nodes (also one-way, also the
// leader alone); crashes with partial fsync and restarts, fresh-disk
// re-adds, slow disks, process pauses (in runs without lease), clocks that
// drift within the bound the lease assumes; and clients that write (single
// and batched, retrying at the leader hint), read (ReadIndex, lease and
// follower reads), change membership (add learner or voter, promote,
// remove, re-add) and transfer leadership. A third of the seeds use
// extreme configurations (one entry per message, windows of one or two,
// snapshots every few entries, chunks of a few bytes).
//
// After every step it checks Election Safety, Log Matching, Leader
// Completeness, State Machine Safety, persist-before-send, one uncommitted
// config change per leader, snapshot floor ≤ commit, term and commit
// monotonicity, and client-visible linearizability (acknowledged writes
// are never lost, reads are never stale, a failed or overwritten proposal
// is never reported as applied). A liveness phase heals every fault and
// requires progress within a bounded number of ticks. With Options.Garbage
// set, delivered messages are sometimes corrupted and only an engine panic
// fails the run.
//
// # Usage
//
//	stats, err := sim.Run(sim.Options{Seed: 7, Nodes: 5, Steps: 1500})
//	var v *sim.Violation
//	if errors.As(err, &v) {
//		fmt.Print(v.Report()) // property, detail, last 200 events
//	}
//
// From the shell: go test ./internal/sim/... runs the CI budget;
// YGGR_SIM_SEEDS and YGGR_SIM_STEPS scale it; YGGR_SIM_SEED replays one
// seed exactly (a failure prints the command).
//
// # Caveats
//
// A step is one tick of virtual time: all messages due, each node's
// ticks, fsyncs, client operations and faults of that tick, shuffled.
// Message delays are whole ticks (at least one). A partition blocks what
// is sent while it lasts; messages already on the wire still arrive. Node
// IDs are n1..nN plus two spares for membership changes; the spares run
// from the start with no configuration. The host keeps a snapshot readable
// while it is being streamed, and on restart drops log entries a newer
// durable snapshot covers (see FINDINGS.md, N1 and N2). The simulator never encodes messages,
// so it cannot find wire-codec bugs; netquic's fuzz targets cover those.
package sim
