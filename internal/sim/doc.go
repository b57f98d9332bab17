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
// duplicates, delays and reorders messages and partitions nodes (also
// one-way), crashes and restarts, slow disks, clocks that drift within the
// bound the lease assumes, and clients that write, read (ReadIndex, lease
// and follower reads), change membership and transfer leadership.
//
// After every step it checks Election Safety, Log Matching, Leader
// Completeness, State Machine Safety, persist-before-send, one uncommitted
// config change per leader, snapshot floor ≤ commit, term and commit
// monotonicity, and client-visible linearizability (acknowledged writes
// are never lost, reads are never stale, a failed or overwritten proposal
// is never reported as applied). A liveness phase heals every fault and
// requires progress within a bounded number of ticks.
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
// Message delays are whole ticks (at least one). Node IDs are n1..nN plus
// two spares for membership changes. The simulator never encodes messages,
// so it cannot find wire-codec bugs; netquic's fuzz targets cover those.
package sim
