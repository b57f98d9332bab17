package engine

import "fmt"

// NodeID names a node of the cluster. It is chosen by the operator ("n1"),
// is at most MaxNodeIDLen bytes, and never changes for the life of a node.
type NodeID string

// MaxNodeIDLen bounds the length of a NodeID on the wire and on disk.
const MaxNodeIDLen = 64

// ValidNodeID reports whether id is a usable node ID: 1 to MaxNodeIDLen bytes
// of letters, digits, '-', '_' and '.'.
func ValidNodeID(id NodeID) bool {
	if len(id) == 0 || len(id) > MaxNodeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// MessageType is the kind of a Raft RPC.
type MessageType uint8

const (
	MsgNone          MessageType = iota
	MsgPreVote                   // RequestVote of a pre-election (Raft §9.6); Term is the term the candidate would use
	MsgPreVoteResp               // reply to MsgPreVote
	MsgVote                      // RequestVote (Raft §5.2)
	MsgVoteResp                  // reply to MsgVote
	MsgApp                       // AppendEntries carrying entries (Raft §5.3)
	MsgAppResp                   // reply to MsgApp
	MsgHeartbeat                 // empty AppendEntries: leadership and commit, and a read round
	MsgHeartbeatResp             // reply to MsgHeartbeat, echoing its read round
	MsgSnap                      // one chunk of InstallSnapshot (Raft §5.1 of the thesis, chunked)
	MsgSnapResp                  // reply to MsgSnap: the next offset the follower expects
	MsgTimeoutNow                // leadership transfer: start an election now (Raft thesis §3.10)
	MsgReadIndex                 // a follower asks the leader for a read index (Raft thesis §6.4)
	MsgReadIndexResp             // the leader's read index, or a rejection
	maxMessageType
)

var messageTypeNames = [...]string{
	MsgNone:          "None",
	MsgPreVote:       "PreVote",
	MsgPreVoteResp:   "PreVoteResp",
	MsgVote:          "Vote",
	MsgVoteResp:      "VoteResp",
	MsgApp:           "App",
	MsgAppResp:       "AppResp",
	MsgHeartbeat:     "Heartbeat",
	MsgHeartbeatResp: "HeartbeatResp",
	MsgSnap:          "Snap",
	MsgSnapResp:      "SnapResp",
	MsgTimeoutNow:    "TimeoutNow",
	MsgReadIndex:     "ReadIndex",
	MsgReadIndexResp: "ReadIndexResp",
}

func (t MessageType) String() string {
	if t < maxMessageType {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Valid reports whether t is a known message type other than MsgNone.
func (t MessageType) Valid() bool { return t > MsgNone && t < maxMessageType }

// IsResponse reports whether t answers a request.
func (t MessageType) IsResponse() bool {
	switch t {
	case MsgPreVoteResp, MsgVoteResp, MsgAppResp, MsgHeartbeatResp, MsgSnapResp, MsgReadIndexResp:
		return true
	}
	return false
}

// Message is one Raft RPC between two nodes. Which fields are meaningful
// depends on Type; the others are zero. Every message carries the sender's
// term; a message from a node's own past (a lower term) is answered or
// ignored as Raft §5.1 says, never acted on.
//
// All fields are fixed-width integers, byte strings and slices, so that the
// wire codec (netquic) can encode every value the engine emits.
type Message struct {
	Type MessageType
	From NodeID
	To   NodeID
	Term uint64

	// MsgVote, MsgPreVote: the candidate's last log entry (Raft §5.4.1).
	LastIndex uint64
	LastTerm  uint64
	// Transfer marks a vote requested because of leadership transfer
	// (MsgTimeoutNow): voters grant it even if they heard from a leader
	// recently (Raft thesis §3.10, §4.2.3).
	Transfer bool

	// MsgApp: entries follow the entry PrevIndex/PrevTerm. MsgApp and
	// MsgHeartbeat: Commit is the leader's commit index (for a heartbeat,
	// clamped to the follower's known match).
	PrevIndex uint64
	PrevTerm  uint64
	Entries   []Entry
	Commit    uint64

	// Responses. Reject says the request was refused. For MsgAppResp, Index
	// is the last index the follower verified matches the leader (on success)
	// or the PrevIndex it rejected; HintIndex/HintTerm let the leader skip a
	// whole conflicting term at once. For MsgSnapResp, Index is the next
	// snapshot byte offset the follower expects, and Offset that of the
	// chunk it answers (beyond Index: the follower dropped it). For
	// MsgReadIndexResp, Index is the read index.
	Reject    bool
	Index     uint64
	HintIndex uint64
	HintTerm  uint64

	// Context is a read round: the leader numbers its heartbeat rounds and
	// followers echo the number in MsgHeartbeatResp, so a late
	// acknowledgement cannot confirm a later round. For MsgReadIndex and
	// its response it is the requester's batch number.
	Context uint64

	// MsgSnap: a chunk of the snapshot Snapshot, Data at byte Offset; Done on
	// the last chunk. The leader's engine leaves Data empty; the host fills
	// it from its snapshot store (see SendSnapshot).
	Snapshot SnapshotMeta
	Offset   uint64
	Data     []byte
	Done     bool
}

// String renders the message in trace notation, for example
// "n1->n2 App 3 prev=3/17 entries=[3/18 3/19] commit=17".
func (m Message) String() string {
	s := fmt.Sprintf("%s->%s %s %d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case MsgPreVote, MsgVote:
		s += fmt.Sprintf(" last=%d/%d", m.LastTerm, m.LastIndex)
		if m.Transfer {
			s += " transfer"
		}
	case MsgApp:
		s += fmt.Sprintf(" prev=%d/%d entries=%s commit=%d", m.PrevTerm, m.PrevIndex, formatEntryIDs(m.Entries), m.Commit)
	case MsgHeartbeat:
		s += fmt.Sprintf(" commit=%d ctx=%d", m.Commit, m.Context)
	case MsgHeartbeatResp:
		s += fmt.Sprintf(" ctx=%d", m.Context)
	case MsgAppResp:
		if m.Reject {
			s += fmt.Sprintf(" reject=%d hint=%d/%d", m.Index, m.HintTerm, m.HintIndex)
		} else {
			s += fmt.Sprintf(" match=%d", m.Index)
		}
	case MsgSnap:
		s += fmt.Sprintf(" snap=%d/%d off=%d len=%d", m.Snapshot.Term, m.Snapshot.Index, m.Offset, len(m.Data))
		if m.Done {
			s += " done"
		}
	case MsgSnapResp:
		s += fmt.Sprintf(" snap=%d/%d off=%d next=%d", m.Snapshot.Term, m.Snapshot.Index, m.Offset, m.Index)
		if m.Reject {
			s += " reject"
		}
	case MsgReadIndex:
		s += fmt.Sprintf(" ctx=%d", m.Context)
	case MsgReadIndexResp:
		s += fmt.Sprintf(" ctx=%d index=%d", m.Context, m.Index)
		if m.Reject {
			s += " reject"
		}
	case MsgPreVoteResp, MsgVoteResp:
		if m.Reject {
			s += " reject"
		} else {
			s += " granted"
		}
	}
	return s
}

func formatEntryIDs(es []Entry) string {
	s := "["
	for i, e := range es {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d/%d", e.Term, e.Index)
	}
	return s + "]"
}
