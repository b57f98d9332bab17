package engine

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Membership is a cluster configuration: the voters, whose majority decides
// elections and commitment, and the learners, which receive the log but
// neither vote nor count toward a quorum. Both lists are sorted and disjoint.
type Membership struct {
	Voters   []NodeID
	Learners []NodeID
}

// String renders the membership as "voters=(n1 n2 n3) learners=(n4)".
func (m Membership) String() string {
	j := func(ids []NodeID) string {
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = string(id)
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("voters=(%s) learners=(%s)", j(m.Voters), j(m.Learners))
}

// IsVoter reports whether id is a voter.
func (m Membership) IsVoter(id NodeID) bool {
	_, ok := slices.BinarySearch(m.Voters, id)
	return ok
}

// IsLearner reports whether id is a learner.
func (m Membership) IsLearner(id NodeID) bool {
	_, ok := slices.BinarySearch(m.Learners, id)
	return ok
}

// Contains reports whether id is a voter or a learner.
func (m Membership) Contains(id NodeID) bool { return m.IsVoter(id) || m.IsLearner(id) }

// Empty reports whether the membership has no voters.
func (m Membership) Empty() bool { return len(m.Voters) == 0 }

// Clone returns a deep copy.
func (m Membership) Clone() Membership {
	return Membership{Voters: slices.Clone(m.Voters), Learners: slices.Clone(m.Learners)}
}

// Equal reports whether two memberships have the same voters and learners.
func (m Membership) Equal(o Membership) bool {
	return slices.Equal(m.Voters, o.Voters) && slices.Equal(m.Learners, o.Learners)
}

// Members returns voters and learners, sorted.
func (m Membership) Members() []NodeID {
	return slices.AppendSeq(make([]NodeID, 0, len(m.Voters)+len(m.Learners)), m.All())
}

// All yields every member, voters and learners, in ID order, without
// allocating: it merges the two sorted, disjoint lists.
func (m Membership) All() iter.Seq[NodeID] {
	return func(yield func(NodeID) bool) {
		v, l := m.Voters, m.Learners
		for len(v) > 0 || len(l) > 0 {
			var id NodeID
			// The lists are disjoint, so the order of equal IDs never matters.
			if len(l) == 0 || (len(v) > 0 && cmp.Less(v[0], l[0])) {
				id, v = v[0], v[1:]
			} else {
				id, l = l[0], l[1:]
			}
			if !yield(id) {
				return
			}
		}
	}
}

// Validate checks that the lists are sorted, disjoint, duplicate-free, hold
// only valid IDs and at most MaxMembers each.
func (m Membership) Validate() error {
	for _, list := range [][]NodeID{m.Voters, m.Learners} {
		if len(list) > MaxMembers {
			return fmt.Errorf("engine: membership list of %d members, more than %d", len(list), MaxMembers)
		}
		for i, id := range list {
			if !ValidNodeID(id) {
				return fmt.Errorf("engine: invalid node id %q in membership", id)
			}
			if i > 0 && list[i-1] >= id {
				return fmt.Errorf("engine: membership not sorted or has duplicate %q", id)
			}
		}
	}
	for _, id := range m.Learners {
		if m.IsVoter(id) {
			return fmt.Errorf("engine: %q is both voter and learner", id)
		}
	}
	return nil
}

// NewMembership builds a sorted, duplicate-free membership.
func NewMembership(voters, learners []NodeID) Membership {
	v := slices.Clone(voters)
	slices.Sort(v)
	v = slices.Compact(v)
	l := make([]NodeID, 0, len(learners))
	for _, id := range learners {
		if _, ok := slices.BinarySearch(v, id); !ok {
			l = append(l, id)
		}
	}
	slices.Sort(l)
	l = slices.Compact(l)
	if len(l) == 0 {
		l = nil
	}
	if len(v) == 0 {
		v = nil
	}
	return Membership{Voters: v, Learners: l}
}

// ConfOp is a single-server membership change (Raft §4.3).
type ConfOp uint8

const (
	ConfNone       ConfOp = iota
	ConfAddVoter          // add a new node as a voter directly
	ConfAddLearner        // add a new node as a learner
	ConfPromote           // make a caught-up learner a voter
	ConfRemove            // remove a voter or learner
	maxConfOp
)

func (op ConfOp) String() string {
	switch op {
	case ConfAddVoter:
		return "add-voter"
	case ConfAddLearner:
		return "add-learner"
	case ConfPromote:
		return "promote"
	case ConfRemove:
		return "remove"
	}
	return fmt.Sprintf("ConfOp(%d)", uint8(op))
}

// ConfChange is one membership change. Addr is opaque to the engine: the
// host records it (a peer's network address) when the change is applied.
type ConfChange struct {
	Op   ConfOp
	Node NodeID
	Addr string
}

func (c ConfChange) String() string { return fmt.Sprintf("%s %s", c.Op, c.Node) }

// Errors of membership changes; they arrive in ProposalRejected actions.
var (
	ErrConfPending        = errors.New("engine: a membership change is already in progress")
	ErrConfNotReady       = errors.New("engine: leader has not committed an entry in its term yet")
	ErrConfInvalid        = errors.New("engine: invalid membership change")
	ErrLearnerNotCaughtUp = errors.New("engine: learner has not caught up")
)

// Apply returns the membership that results from c, or ErrConfInvalid.
func (m Membership) Apply(c ConfChange) (Membership, error) {
	if !ValidNodeID(c.Node) {
		return m, fmt.Errorf("%w: bad node id %q", ErrConfInvalid, c.Node)
	}
	switch c.Op {
	case ConfAddVoter:
		if m.IsVoter(c.Node) {
			return m, fmt.Errorf("%w: %s is already a voter", ErrConfInvalid, c.Node)
		}
		voters := append(slices.Clone(m.Voters), c.Node)
		learners := slices.DeleteFunc(slices.Clone(m.Learners), func(id NodeID) bool { return id == c.Node })
		return NewMembership(voters, learners), nil
	case ConfAddLearner:
		if m.Contains(c.Node) {
			return m, fmt.Errorf("%w: %s is already a member", ErrConfInvalid, c.Node)
		}
		return NewMembership(m.Voters, append(slices.Clone(m.Learners), c.Node)), nil
	case ConfPromote:
		if !m.IsLearner(c.Node) {
			return m, fmt.Errorf("%w: %s is not a learner", ErrConfInvalid, c.Node)
		}
		voters := append(slices.Clone(m.Voters), c.Node)
		learners := slices.DeleteFunc(slices.Clone(m.Learners), func(id NodeID) bool { return id == c.Node })
		return NewMembership(voters, learners), nil
	case ConfRemove:
		if !m.Contains(c.Node) {
			return m, fmt.Errorf("%w: %s is not a member", ErrConfInvalid, c.Node)
		}
		if m.IsVoter(c.Node) && len(m.Voters) == 1 {
			return m, fmt.Errorf("%w: cannot remove the last voter", ErrConfInvalid)
		}
		del := func(id NodeID) bool { return id == c.Node }
		return NewMembership(slices.DeleteFunc(slices.Clone(m.Voters), del), slices.DeleteFunc(slices.Clone(m.Learners), del)), nil
	}
	return m, fmt.Errorf("%w: unknown op %d", ErrConfInvalid, c.Op)
}

// configEntryVersion is the first byte of an EntryConfig's data.
const configEntryVersion = 1

// MaxAddrLen bounds a member's peer address: the one a config entry
// carries, and any a runtime reads from a peer.
const MaxAddrLen = 1024

// MarshalConfig encodes a config entry's data: the change and the membership
// that results from it. Carrying the result makes the log self-describing:
// the membership at any index is the last config entry at or before it.
//
//	version:u8 op:u8 node:str addr:str membership (see AppendMembership)
//
// where str is a uvarint length and the bytes. testdata/config.golden
// locks the bytes.
func MarshalConfig(c ConfChange, result Membership) []byte {
	b := []byte{configEntryVersion, byte(c.Op)}
	b = appendString(b, string(c.Node))
	b = appendString(b, c.Addr)
	return AppendMembership(b, result)
}

// UnmarshalConfig decodes the data of an EntryConfig. It validates
// everything and never panics on bad input.
func UnmarshalConfig(data []byte) (ConfChange, Membership, error) {
	var c ConfChange
	if len(data) < 2 || data[0] != configEntryVersion {
		return c, Membership{}, errors.New("engine: bad config entry header")
	}
	c.Op = ConfOp(data[1])
	if c.Op == ConfNone || c.Op >= maxConfOp {
		return c, Membership{}, fmt.Errorf("engine: bad config op %d", data[1])
	}
	r := data[2:]
	var node, addr string
	var err error
	if node, r, err = readString(r, MaxNodeIDLen); err != nil {
		return c, Membership{}, err
	}
	if addr, r, err = readString(r, MaxAddrLen); err != nil {
		return c, Membership{}, err
	}
	c.Node, c.Addr = NodeID(node), addr
	m, n, err := DecodeMembership(r)
	if err != nil {
		return c, Membership{}, err
	}
	if n != len(r) {
		return c, Membership{}, errors.New("engine: trailing bytes in config entry")
	}
	return c, m, nil
}
