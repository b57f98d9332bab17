package engine

// Event is an input to Engine.Step. The set of events is closed: every
// implementation is in this file.
type Event interface{ isEvent() }

// Tick advances the engine's logical clock by one tick. Election and
// heartbeat timeouts, the lease, and transfer and read timeouts are counted
// in ticks.
type Tick struct{}

// Receive delivers a message from a peer. The host must have authenticated
// Msg.From; the engine validates everything else.
type Receive struct{ Msg Message }

// Propose asks the leader to append a client command. ID is chosen by the
// host and comes back in ProposalAccepted or ProposalRejected.
type Propose struct {
	ID   uint64
	Data []byte
}

// Proposal is one command of a ProposeBatch.
type Proposal struct {
	ID   uint64
	Data []byte
}

// ProposeBatch appends several commands at once (group commit): one
// PersistEntries and one MsgApp per follower for the whole batch.
type ProposeBatch struct{ Proposals []Proposal }

// ChangeMembership proposes a single-server membership change (Raft §4.3).
type ChangeMembership struct {
	ID     uint64
	Change ConfChange
}

// TransferLeadership asks the leader to hand leadership to To (Raft thesis
// §3.10). An empty To picks the most up-to-date voter.
type TransferLeadership struct{ To NodeID }

// Read asks for a read index with a heartbeat round (Raft thesis §6.4):
// the engine answers ReadReady{ID, Index} once it is safe to serve a
// linearizable read from a state machine that has applied Index, or
// ReadFailed. It needs no clock assumption. Lease reads, which skip the
// round, are served by the host from Engine.Lease, without a Step.
type Read struct {
	ID uint64
}

// LogPersisted reports that the host made the log durable up to Index, whose
// entry has term Term. A leader counts itself toward a quorum only for
// persisted entries. A report for an entry that has since been overwritten
// (its term differs) is ignored.
type LogPersisted struct {
	Index uint64
	Term  uint64
}

// SnapshotTaken reports that the host wrote a snapshot of the state machine
// at Meta.Index (which it has applied). The engine moves its snapshot floor
// and compacts the log prefix.
type SnapshotTaken struct{ Meta SnapshotMeta }

// SnapshotFailed reports that taking a snapshot at Index failed (for example
// the disk was full). Nothing changes; a later hint retries.
type SnapshotFailed struct {
	Index uint64
	Err   error
}

// SnapshotChunkFailed reports that the host could not read the chunk an
// outgoing MsgSnap needed; the engine restarts that follower's transfer
// later.
type SnapshotChunkFailed struct{ To NodeID }

// Recover restores the engine from durable state after a (re)start: the
// hard state, the snapshot the state machine was restored from (zero if
// none), and the log entries after it, in order. It must be the first event
// stepped; it may be stepped at most once.
type Recover struct {
	HardState HardState
	Snapshot  SnapshotMeta
	Entries   []Entry
}

func (Tick) isEvent()                {}
func (Receive) isEvent()             {}
func (Propose) isEvent()             {}
func (ProposeBatch) isEvent()        {}
func (ChangeMembership) isEvent()    {}
func (TransferLeadership) isEvent()  {}
func (Read) isEvent()                {}
func (LogPersisted) isEvent()        {}
func (SnapshotTaken) isEvent()       {}
func (SnapshotFailed) isEvent()      {}
func (SnapshotChunkFailed) isEvent() {}
func (Recover) isEvent()             {}
