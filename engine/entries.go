package engine

import "fmt"

// EntryType says how the host interprets an entry's Data.
type EntryType uint8

const (
	// EntryNormal carries a client command for the state machine.
	EntryNormal EntryType = iota
	// EntryNoop is appended by a new leader to commit an entry of its term
	// (Raft §5.4.2, thesis §6.4); it has no data.
	EntryNoop
	// EntryConfig carries a membership change (Raft §4.3), encoded with
	// ConfChange.Marshal. It takes effect when appended, not when committed.
	EntryConfig
	maxEntryType
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "normal"
	case EntryNoop:
		return "noop"
	case EntryConfig:
		return "config"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Valid reports whether t is a known entry type.
func (t EntryType) Valid() bool { return t < maxEntryType }

// Entry is one record of the Raft log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// String renders the entry as term/index.
func (e Entry) String() string { return fmt.Sprintf("%d/%d", e.Term, e.Index) }

// size is the entry's weight for byte limits: its data plus a fixed
// overhead for the header fields.
func (e Entry) size() uint64 { return uint64(len(e.Data)) + entryOverhead }

// entryOverhead approximates the encoded size of an entry's header.
const entryOverhead = 24

// HardState is the state a node must persist before it answers any RPC that
// depends on it (Raft §5, Figure 2): the current term, the vote cast in that
// term, and the commit index (persisting commit is not required for safety;
// it lets a restarted node re-apply without waiting for a leader).
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// SnapshotMeta describes a snapshot: the last entry it covers and the
// membership in force at that entry (Raft §7). Size is the snapshot's length
// in bytes when known (the host sets it), and zero otherwise.
type SnapshotMeta struct {
	Index      uint64
	Term       uint64
	Membership Membership
	Size       uint64
}

// String renders the snapshot as term/index.
func (s SnapshotMeta) String() string { return fmt.Sprintf("%d/%d", s.Term, s.Index) }
