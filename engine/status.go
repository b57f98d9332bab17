package engine

import "fmt"

// Role is a node's role in the protocol.
type Role uint8

const (
	Follower Role = iota
	PreCandidate
	Candidate
	Leader
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case PreCandidate:
		return "pre-candidate"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ProgressState is the leader's replication mode for one follower.
type ProgressState uint8

const (
	// Probe: the leader does not know the follower's match; it sends one
	// MsgApp per heartbeat interval and backs off on rejection.
	Probe ProgressState = iota
	// Replicate: the follower is matching; MsgApps are pipelined up to
	// MaxInflightMsgs.
	Replicate
	// Snapshot: the follower is behind the leader's log floor and receives
	// InstallSnapshot chunks.
	Snapshot
)

func (s ProgressState) String() string {
	switch s {
	case Probe:
		return "probe"
	case Replicate:
		return "replicate"
	case Snapshot:
		return "snapshot"
	}
	return fmt.Sprintf("ProgressState(%d)", uint8(s))
}

// FollowerStatus is the leader's view of one follower.
type FollowerStatus struct {
	ID       NodeID
	Learner  bool
	Match    uint64
	Next     uint64
	State    ProgressState
	Inflight int
	// Active says the follower answered within the last election timeout.
	Active bool
}

// Counters are monotonically increasing event counts since the engine
// started.
type Counters struct {
	ElectionsStarted   uint64
	ElectionsWon       uint64
	PreVotesStarted    uint64
	PreVotesGranted    uint64 // pre-votes this node granted to others
	PreVotesDenied     uint64
	VotesGranted       uint64 // votes this node granted to others
	VotesDenied        uint64
	AppendsSent        uint64
	AppendsReceived    uint64
	AppendsRejected    uint64 // MsgApp this node rejected as a follower
	EntriesAppended    uint64
	EntriesCommitted   uint64
	EntriesApplied     uint64
	SnapshotsSent      uint64
	SnapshotsInstalled uint64
	ReadsStarted       uint64
	ReadsCompleted     uint64
	ReadsFailed        uint64
	ProposalsRejected  uint64
	TransfersStarted   uint64
}

// Status is a snapshot of an engine's state. It shares no memory with the
// engine.
type Status struct {
	ID         NodeID
	Role       Role
	Term       uint64
	Vote       NodeID
	Leader     NodeID
	Commit     uint64
	Applied    uint64
	FirstIndex uint64 // first index in the live log
	LastIndex  uint64
	LastTerm   uint64
	// SnapshotIndex and SnapshotTerm are the log floor.
	SnapshotIndex uint64
	SnapshotTerm  uint64
	Membership    Membership
	// PendingConfig says a membership change is appended but not committed.
	PendingConfig bool
	// TransferTarget is set while a leadership transfer is in flight.
	TransferTarget NodeID
	PendingReads   int
	// LeaseValid says a leader's lease currently allows local reads.
	LeaseValid bool
	Followers  []FollowerStatus // leader only, sorted by ID
	Counters   Counters
}

func (s Status) String() string {
	return fmt.Sprintf("%s %s term=%d leader=%s commit=%d applied=%d last=%d/%d %s",
		s.ID, s.Role, s.Term, s.Leader, s.Commit, s.Applied, s.LastTerm, s.LastIndex, s.Membership)
}
