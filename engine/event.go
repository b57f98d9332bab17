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
// §3.10). An empty To picks the most up-to-date voter among those that
// answered since the last check-quorum (any, if none did).
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
//
// The committed entries are applied again (ApplyEntries) unless the host
// has applied them itself: a host that replays its log into the state
// machine piece by piece while it reads it, so as not to hold the whole
// log's data in memory at once, says so with Applied. The entries up to
// Applied may then come without Data (config entries must keep theirs: the
// engine reads them), with Sizes giving the length of the data each entry
// has in the host's log; the engine asks for it back when it sends them
// (Send.FillThrough), as for the entries it released itself
// (Config.EntryCacheBytes). Applied must be at most HardState.Commit, and
// the entries up to it must be the log Recover keeps: contiguous from
// Snapshot.Index+1, with terms never below the snapshot's or the previous
// entry's. Recover panics otherwise: the host applied entries that are not
// the committed log.
type Recover struct {
	HardState HardState
	Snapshot  SnapshotMeta
	Entries   []Entry
	// Applied is the last index the host applied while recovering, or 0.
	Applied uint64
	// Sizes, if not nil, has one element per entry of Entries: the length
	// of its data, which the entry may have left out if it is at or below
	// Applied. Nil means every entry carries its Data.
	Sizes []uint32
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
