package engine

// Action is an output of Engine.Step that the host must carry out. The set
// of actions is closed: every implementation is in this file.
//
// Ordering contract (see the package documentation for the reasons): the
// host executes the actions of one Step in the order given, across Steps
// too. No Send (or SendSnapshot) is performed before every earlier
// PersistHardState that changed the term or vote is durable; a MsgAppResp
// also waits until every earlier PersistEntries, TruncateLog,
// WriteSnapshotChunk and RestoreSnapshot is durable, and a MsgSnapResp
// until every one of those but WriteSnapshotChunk is; other messages,
// including the leader's MsgApp, need not wait for log writes (the leader
// counts itself only after LogPersisted). A PersistHardState that changed
// only Commit has no durability requirement. Non-persist actions
// (ApplyEntries, ReadReady, ...) have no durability requirement but keep
// their order relative to each other and to RestoreSnapshot.
type Action interface{ isAction() }

// PersistHardState: write the hard state durably.
type PersistHardState struct{ HardState HardState }

// TruncateLog: delete every log entry with index ≥ Index (a conflicting
// suffix, Raft §5.3). Followed by a PersistEntries in the same Step, except
// after Recover, which drops a stale tail (terms going backwards) on its own.
type TruncateLog struct{ Index uint64 }

// PersistEntries: append entries durably. They follow the last entry of the
// log, after any TruncateLog before them.
type PersistEntries struct{ Entries []Entry }

// Send: deliver Msg to Msg.To. Delivery may fail, be delayed, reordered or
// duplicated; the protocol copes.
//
// FillThrough, when not zero, says the engine no longer holds the data of
// Msg's entries up to that index (Config.EntryCacheBytes): before sending,
// the host replaces those entries with its log's copies, which are durable
// and committed. If it cannot read them, it drops the message (the leader
// sends them again).
type Send struct {
	Msg         Message
	FillThrough uint64
}

// SendSnapshot: read up to MaxBytes of the snapshot Msg.Snapshot at
// Msg.Offset from the snapshot store, set Msg.Data (and Msg.Done if the chunk
// ends the snapshot) and send it. If the snapshot cannot be read, step
// SnapshotChunkFailed. The host must keep a snapshot readable while it is
// being streamed (a newer snapshot must not delete it), or a follower that
// needs it never catches up.
type SendSnapshot struct {
	Msg      Message
	MaxBytes uint64
}

// ApplyEntries: apply committed entries to the state machine, in order.
// Entries are never handed out twice, except after a Recover, which restarts
// from the hard state's commit above the snapshot.
type ApplyEntries struct{ Entries []Entry }

// ProposalAccepted: the proposal ID was appended at Index in Term. The host
// keys its reply waiter by (Term, Index): if the entry applied at Index has
// another term, the proposal was overwritten and has failed.
type ProposalAccepted struct {
	ID    uint64
	Term  uint64
	Index uint64
}

// ProposalRejected: the proposal or membership change ID was not appended.
// Leader is the leader this node knows of (empty if none), for redirection.
type ProposalRejected struct {
	ID     uint64
	Err    error
	Leader NodeID
}

// ReadReady: the read ID may be served from a state machine that has applied
// at least Index.
type ReadReady struct {
	ID    uint64
	Index uint64
}

// ReadFailed: the read ID cannot be served here; Err says why (ErrNotLeader,
// ErrNoLeader, ErrSteppedDown, ErrReadTimeout, ErrBusy). A read on a leader
// that has not yet committed an entry of its term waits for it.
type ReadFailed struct {
	ID     uint64
	Err    error
	Leader NodeID
}

// WriteSnapshotChunk: a follower received bytes [Offset, Offset+len(Data)) of
// the snapshot Meta from the leader. Write them to the incoming snapshot;
// Offset 0 starts a new one (discarding any other incoming snapshot). They
// need not be durable before the MsgSnapResp that acknowledges them (see
// the package documentation). When Done, verify the snapshot and publish
// it durably; then RestoreSnapshot follows.
type WriteSnapshotChunk struct {
	Meta   SnapshotMeta
	Offset uint64
	Data   []byte
	Done   bool
}

// RestoreSnapshot: replace the state machine with the snapshot Meta (written
// by earlier WriteSnapshotChunk actions) and the log with an empty log whose
// floor is Meta.Index; keep the entries after Meta.Index if KeepLog.
// Durable before later sends.
type RestoreSnapshot struct {
	Meta    SnapshotMeta
	KeepLog bool
}

// CompactLog: entries with index ≤ Index are covered by a snapshot and may be
// deleted from storage.
type CompactLog struct{ Index uint64 }

// SnapshotHint: the log has grown enough that a snapshot at the applied
// index would be worthwhile. Answer with SnapshotTaken or SnapshotFailed.
type SnapshotHint struct{ Index uint64 }

// RoleChanged: this node's role, term or known leader changed.
type RoleChanged struct {
	Role   Role
	Term   uint64
	Leader NodeID
}

// MembershipChanged: the configuration in force changed (on append of a
// config entry, on truncation of one, or on a snapshot restore).
type MembershipChanged struct{ Membership Membership }

func (PersistHardState) isAction()   {}
func (TruncateLog) isAction()        {}
func (PersistEntries) isAction()     {}
func (Send) isAction()               {}
func (SendSnapshot) isAction()       {}
func (ApplyEntries) isAction()       {}
func (ProposalAccepted) isAction()   {}
func (ProposalRejected) isAction()   {}
func (ReadReady) isAction()          {}
func (ReadFailed) isAction()         {}
func (WriteSnapshotChunk) isAction() {}
func (RestoreSnapshot) isAction()    {}
func (CompactLog) isAction()         {}
func (SnapshotHint) isAction()       {}
func (RoleChanged) isAction()        {}
func (MembershipChanged) isAction()  {}
