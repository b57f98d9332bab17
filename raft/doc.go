// Package raft runs a replicated state machine of the application's own on
// yggr's Raft runtime: the runtime the key-value database (package yggr)
// runs on, with the same storage, transport, options and errors.
//
// An application implements StateMachine and opens one Node per member:
//
//	n, err := raft.Open("data/n1", []string{"n1=10.0.0.1:7071", "n2=10.0.0.2:7071", "n3=10.0.0.3:7071"},
//		&counter{}, yggr.WithID("n1"), yggr.WithClusterSecret(secret))
//	result, index, err := n.Propose(ctx, []byte("+1"))
//	index, err = n.Read(ctx) // then read the state machine: linearizable
//
// Open takes the options of yggr.Open, with the same meaning: identity
// (WithID, WithJoin), peer security (WithClusterSecret, WithTLS,
// WithInsecure, WithListenAddr), timing (WithTiming), WithLeaseReads,
// snapshots (WithSnapshotEntries), WithDiskReserve, WithWatchHistory (how
// much log is kept below the newest snapshot), WithLogger and
// WithUnsafeNoSync. The options of the key-value store (WithLimits, the
// watch cache and buffer, WithTracerProvider) have no effect here. Errors
// are package yggr's: yggr.ErrNotLeader, yggr.ErrTimeout,
// yggr.ErrUnknownOutcome, yggr.ErrDropped, yggr.ErrStorage, ...
//
// # The state machine contract
//
//   - Apply is called for every committed command, in log index order, from
//     one goroutine (the apply goroutine), never concurrently with another
//     Apply, Snapshot or Restore. Indexes increase but are not contiguous:
//     entries that carry no command (a leader's no-op, membership changes)
//     are not passed to Apply. When a node starts, the commands its log
//     holds above its snapshot that it knows committed are applied by Open
//     itself, as it reads them, before the apply goroutine runs: Open
//     returns with them applied. An Open that fails may have applied part
//     of them: give the next Open a new, empty state machine.
//   - Apply must be deterministic: the same commands in the same order give
//     the same state and the same results on every node, so it must not read
//     the clock, randomness, the environment or anything outside its state
//     and the command. It cannot fail: a command the state machine rejects
//     yields a result that says so (the result bytes are the application's
//     to encode), and every node rejects it alike. A panic in Apply crashes
//     the process, as a bug should.
//   - Apply runs on every node. The leader's result is returned to the
//     caller of Propose (through the follower it called, if any); the
//     others are discarded. The state machine must not retain cmd after
//     Apply returns.
//   - Snapshot is called on the apply goroutine, between two Applies, and
//     must return quickly: it captures the state as of the last Apply (a
//     copy-on-write clone or a copy) and returns an io.WriterTo that the
//     runtime runs on another goroutine while later Applies go on, so the
//     image must share nothing mutable with the live state. The runtime
//     cuts what WriteTo writes into checksummed chunks on disk (which are
//     also what a follower that fell behind receives); a Snapshot or
//     WriteTo error abandons that snapshot and the runtime tries again
//     later.
//   - Restore replaces the whole state with what a WriteTo wrote. The
//     node calls it when it starts from its newest snapshot (before the
//     apply goroutine runs) and, on the apply goroutine, when a follower
//     installs the leader's snapshot. On error the state must be
//     unchanged: Open fails, or the node stops as on a storage failure
//     (yggr.ErrStorage) rather than serve a state it could not restore.
//   - Readers of the state machine (a Read's caller) run concurrently with
//     Apply: guard the state with a lock, or publish immutable versions.
//
// # When snapshots are taken
//
// Automatically, as the log grows: by default once the entries applied
// since the last snapshot weigh as much as that snapshot (at least 4 MiB),
// or every n entries with yggr.WithSnapshotEntries(n); and on demand with
// Node.Snapshot. A snapshot lets the runtime drop the log below it (it
// keeps 1000 entries below it for followers slightly behind); a restart
// restores the newest snapshot, then applies the log after it again, so
// Apply sees those entries once per start, from a state restored to just
// before them.
//
// # Durability of acknowledgements
//
// Propose returns once the command is committed (written and fsynced on a
// majority of the voters, unless WithUnsafeNoSync) and applied by the
// leader's state machine: it survives the loss of any minority of nodes.
// It then returns the leader's result and the entry's index. The proposing
// node's own state machine may apply it a moment later; Read with
// yggr.AtLeast(index) waits for that. A Propose that fails with
// yggr.ErrUnknownOutcome (or whose ctx ended) may or may not have been
// committed: make commands idempotent, or check before sending one again.
// yggr.ErrDropped, yggr.ErrNotLeader and yggr.ErrBusy mean it was not.
//
// # Coming from hashicorp/raft
//
//	hashicorp/raft                        package raft
//	FSM.Apply(*raft.Log) interface{}      StateMachine.Apply(index, cmd) []byte
//	FSM.Snapshot() (FSMSnapshot, error)   StateMachine.Snapshot() (io.WriterTo, error)
//	FSMSnapshot.Persist(SnapshotSink)     the io.WriterTo's WriteTo(w): write, return; no Cancel or Close
//	FSMSnapshot.Release()                 none: drop the image when WriteTo returns
//	FSM.Restore(io.ReadCloser)            StateMachine.Restore(io.Reader): the runtime closes it
//	raft.NewRaft(conf, fsm, logs, stable, snaps, transport)
//	                                      raft.Open(dir, peers, sm, options...): Badger log, snapshot
//	                                      store and mutual-TLS QUIC transport are built in
//	BootstrapCluster(configuration)       the peers given to Open when dir is new
//	Apply(cmd, timeout).Response()        Propose(ctx, cmd): on any node (a follower forwards to
//	                                      the leader), returns Apply's result and the index
//	VerifyLeader(), Barrier()             Read(ctx): a linearizable read index, applied locally,
//	                                      on any node; WithConsistency(yggr.Lease) skips the round
//	AddVoter, AddNonvoter, RemoveServer   AddVoter, AddLearner (then Promote), RemoveMember
//	LeadershipTransfer(ToServer)          TransferLeadership(ctx, id)
//	State(), Leader(), Stats()            Status()
//	Snapshot()                            Snapshot(ctx)
//	Shutdown()                            Close()
//
// Differences worth knowing: every call takes a ctx instead of a timeout;
// the Apply goroutine never blocks heartbeats or elections; pre-vote and
// check-quorum are always on; Apply does not receive the entry's term or
// type, and membership entries are not passed to it (Status reports the
// membership).
//
// # Caveats
//
// The state machine's image must fit the snapshot store's disk, and
// Restore reads it whole before the node serves. Commands are held in
// memory until applied and replicated; keep them small (the key-value
// database bounds its commands to a little over 1 MiB).
package raft
