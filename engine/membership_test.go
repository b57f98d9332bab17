package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func ids(s string) []NodeID {
	var out []NodeID
	for _, f := range strings.Fields(s) {
		out = append(out, NodeID(f))
	}
	return out
}

func TestMembershipApply(t *testing.T) {
	m := NewMembership(ids("n1 n2 n3"), ids("n4"))
	tests := []struct {
		name    string
		c       ConfChange
		want    Membership
		wantErr bool
	}{
		{"add voter", ConfChange{Op: ConfAddVoter, Node: "n5"}, NewMembership(ids("n1 n2 n3 n5"), ids("n4")), false},
		{"add voter that is a learner", ConfChange{Op: ConfAddVoter, Node: "n4"}, NewMembership(ids("n1 n2 n3 n4"), nil), false},
		{"add existing voter", ConfChange{Op: ConfAddVoter, Node: "n1"}, m, true},
		{"add learner", ConfChange{Op: ConfAddLearner, Node: "n5"}, NewMembership(ids("n1 n2 n3"), ids("n4 n5")), false},
		{"add learner that is a member", ConfChange{Op: ConfAddLearner, Node: "n2"}, m, true},
		{"add learner twice", ConfChange{Op: ConfAddLearner, Node: "n4"}, m, true},
		{"promote", ConfChange{Op: ConfPromote, Node: "n4"}, NewMembership(ids("n1 n2 n3 n4"), nil), false},
		{"promote a voter", ConfChange{Op: ConfPromote, Node: "n1"}, m, true},
		{"promote a stranger", ConfChange{Op: ConfPromote, Node: "n9"}, m, true},
		{"remove voter", ConfChange{Op: ConfRemove, Node: "n2"}, NewMembership(ids("n1 n3"), ids("n4")), false},
		{"remove learner", ConfChange{Op: ConfRemove, Node: "n4"}, NewMembership(ids("n1 n2 n3"), nil), false},
		{"remove stranger", ConfChange{Op: ConfRemove, Node: "n9"}, m, true},
		{"bad node id", ConfChange{Op: ConfAddVoter, Node: "bad id"}, m, true},
		{"empty node id", ConfChange{Op: ConfAddVoter}, m, true},
		{"unknown op", ConfChange{Op: ConfOp(42), Node: "n5"}, m, true},
		{"none op", ConfChange{Op: ConfNone, Node: "n5"}, m, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Apply(tt.c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrConfInvalid) {
				t.Fatalf("got %v, want ErrConfInvalid", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("membership (-want +got):\n%s", d)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("result invalid: %v", err)
			}
		})
	}
	// The receiver is never modified.
	if d := cmp.Diff(NewMembership(ids("n1 n2 n3"), ids("n4")), m); d != "" {
		t.Fatalf("Apply modified the receiver:\n%s", d)
	}
	// The last voter cannot be removed.
	one := NewMembership(ids("n1"), ids("n2"))
	if _, err := one.Apply(ConfChange{Op: ConfRemove, Node: "n1"}); !errors.Is(err, ErrConfInvalid) {
		t.Fatalf("removing the last voter: got %v, want ErrConfInvalid", err)
	}
	if got, err := one.Apply(ConfChange{Op: ConfRemove, Node: "n2"}); err != nil || !got.Equal(NewMembership(ids("n1"), nil)) {
		t.Fatalf("removing the learner of a single voter: got %v, %v", got, err)
	}
	// Making one learner a voter leaves the other learners as they are.
	two := NewMembership(ids("n1"), ids("n4 n5 n6"))
	for _, op := range []ConfOp{ConfPromote, ConfAddVoter} {
		got, err := two.Apply(ConfChange{Op: op, Node: "n5"})
		if want := NewMembership(ids("n1 n5"), ids("n4 n6")); err != nil || !got.Equal(want) {
			t.Errorf("%s n5 of %v: got %v, %v, want %v", op, two, got, err, want)
		}
	}
}

func TestMembershipHelpers(t *testing.T) {
	m := NewMembership(ids("n3 n1 n2 n1"), ids("n4 n2 n5 n4"))
	if want := NewMembership(ids("n1 n2 n3"), ids("n4 n5")); !m.Equal(want) {
		t.Fatalf("NewMembership = %v, want %v", m, want)
	}
	if got, want := m.String(), "voters=(n1 n2 n3) learners=(n4 n5)"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	if got := m.Members(); !cmp.Equal(got, ids("n1 n2 n3 n4 n5")) {
		t.Fatalf("Members = %v", got)
	}
	mixed := NewMembership(ids("b d e"), ids("a c f"))
	if got := mixed.Members(); !cmp.Equal(got, ids("a b c d e f")) {
		t.Fatalf("Members of interleaved lists = %v", got)
	}
	var upToC []NodeID
	for id := range mixed.All() {
		upToC = append(upToC, id)
		if id == "c" {
			break // All stops when asked
		}
	}
	if !cmp.Equal(upToC, ids("a b c")) {
		t.Fatalf("All up to c = %v", upToC)
	}
	if !m.IsVoter("n2") || m.IsLearner("n2") || !m.IsLearner("n5") || !m.Contains("n5") || m.Contains("n9") {
		t.Fatal("IsVoter/IsLearner/Contains wrong")
	}
	if m.Empty() || !(Membership{}).Empty() || !NewMembership(nil, ids("n1")).Empty() {
		t.Fatal("Empty wrong")
	}
	c := m.Clone()
	c.Voters[0] = "zz"
	if m.Voters[0] != "n1" {
		t.Fatal("Clone shares memory")
	}
	if m.Equal(NewMembership(ids("n1 n2 n3"), ids("n4"))) {
		t.Fatal("Equal ignores learners")
	}
	for _, bad := range []Membership{
		{Voters: ids("n2 n1")},
		{Voters: ids("n1 n1")},
		{Voters: []NodeID{""}},
		{Voters: ids("n1"), Learners: ids("n1")},
		{Learners: []NodeID{"a b"}},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%v) = nil, want error", bad)
		}
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got := (ConfChange{Op: ConfPromote, Node: "n4"}).String(); got != "promote n4" {
		t.Fatalf("ConfChange.String = %q", got)
	}
	for op, want := range map[ConfOp]string{ConfAddVoter: "add-voter", ConfAddLearner: "add-learner", ConfPromote: "promote", ConfRemove: "remove", ConfOp(9): "ConfOp(9)"} {
		if got := op.String(); got != want {
			t.Errorf("ConfOp(%d).String = %q, want %q", op, got, want)
		}
	}
}

func TestConfigEntryRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		c ConfChange
		m Membership
	}{
		{ConfChange{Op: ConfAddVoter, Node: "n4", Addr: "127.0.0.1:7000"}, NewMembership(ids("n1 n2 n3 n4"), nil)},
		{ConfChange{Op: ConfAddLearner, Node: "n5"}, NewMembership(ids("n1"), ids("n5"))},
		{ConfChange{Op: ConfPromote, Node: "n5"}, NewMembership(ids("n1 n5"), nil)},
		{ConfChange{Op: ConfRemove, Node: "n1", Addr: strings.Repeat("a", 1024)}, NewMembership(ids("n5"), ids("n6 n7"))},
	} {
		c, m, err := UnmarshalConfig(MarshalConfig(tt.c, tt.m))
		if err != nil {
			t.Fatalf("UnmarshalConfig(%v): %v", tt.c, err)
		}
		if d := cmp.Diff(tt.c, c); d != "" {
			t.Errorf("change (-want +got):\n%s", d)
		}
		if !m.Equal(tt.m) {
			t.Errorf("membership: got %v, want %v", m, tt.m)
		}
	}
}

// The largest membership a config entry may carry, MaxMembers voters,
// decodes; one more is refused (the "too many ids" case below).
func TestConfigEntryMaxMembers(t *testing.T) {
	var voters []NodeID
	for i := range MaxMembers {
		voters = append(voters, NodeID(fmt.Sprintf("n%04d", i)))
	}
	m := NewMembership(voters, nil)
	_, got, err := UnmarshalConfig(MarshalConfig(ConfChange{Op: ConfAddVoter, Node: voters[0]}, m))
	if err != nil || !got.Equal(m) {
		t.Fatalf("UnmarshalConfig of %d voters: %d voters, %v", MaxMembers, len(got.Voters), err)
	}
}

func TestUnmarshalConfigBadInput(t *testing.T) {
	good := MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n4", Addr: "x"}, NewMembership(ids("n1 n4"), ids("n5")))
	huge := binary.AppendUvarint([]byte{configEntryVersion, byte(ConfAddVoter)}, 1<<40)
	noLearners := MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n1"}, Membership{Voters: ids("n1")}) // ends in learner count 0
	tests := map[string][]byte{
		"empty":              nil,
		"one byte":           {configEntryVersion},
		"bad version":        append([]byte{2}, good[1:]...),
		"op none":            {configEntryVersion, 0, 0, 0, 0, 0},
		"op unknown":         {configEntryVersion, 9, 0, 0, 0, 0},
		"op past the last":   {configEntryVersion, byte(maxConfOp), 0, 0, 0, 0},
		"no learner count":   noLearners[:len(noLearners)-1],
		"truncated":          good[:len(good)-1],
		"trailing":           append(append([]byte(nil), good...), 0),
		"huge string":        huge,
		"long node id":       appendString([]byte{configEntryVersion, 1}, strings.Repeat("a", MaxNodeIDLen+1)),
		"long addr":          appendString(appendString([]byte{configEntryVersion, 1}, "n1"), strings.Repeat("a", 1025)),
		"too many ids":       binary.AppendUvarint(appendString(appendString([]byte{configEntryVersion, 1}, "n1"), ""), MaxMembers+1),
		"bad varint":         {configEntryVersion, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"unsorted voters":    MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n1"}, Membership{Voters: ids("n2 n1")}),
		"voter also learner": MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n1"}, Membership{Voters: ids("n1"), Learners: ids("n1")}),
		"invalid voter id":   MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n1"}, Membership{Voters: []NodeID{"a b"}}),
		"truncated learners": MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n1"}, Membership{Voters: ids("n1"), Learners: ids("n2")})[:12],
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := UnmarshalConfig(b); err == nil {
				t.Fatalf("UnmarshalConfig(%x) = nil error, want an error", b)
			}
		})
	}
}

// FuzzUnmarshalConfig: the decoder never panics, and whatever it accepts
// is a valid membership that survives a re-encoding round trip.
func FuzzUnmarshalConfig(f *testing.F) {
	f.Add(MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "n4", Addr: "127.0.0.1:1"}, NewMembership(ids("n1 n2 n3 n4"), nil)))
	f.Add(MarshalConfig(ConfChange{Op: ConfAddLearner, Node: "n5"}, NewMembership(ids("n1"), ids("n5"))))
	f.Add(MarshalConfig(ConfChange{Op: ConfRemove, Node: "n1"}, Membership{}))
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, m, err := UnmarshalConfig(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid membership %v: %v", m, err)
		}
		if c.Op == ConfNone || c.Op >= maxConfOp {
			t.Fatalf("accepted op %d", c.Op)
		}
		c2, m2, err := UnmarshalConfig(MarshalConfig(c, m))
		if err != nil || c2 != c || !m2.Equal(m) {
			t.Fatalf("round trip of %v %v: got %v %v %v", c, m, c2, m2, err)
		}
	})
}

// TestMembersMergesInOrder: Members (a merge of the two sorted lists) is
// the sorted union of voters and learners, for any membership.
func TestMembersMergesInOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pool := rapid.SliceOfNDistinct(rapid.StringMatching(`n[0-9]{1,3}`), 0, 12, rapid.ID[string]).Draw(t, "ids")
		var voters, learners []NodeID
		for _, id := range pool {
			if rapid.Bool().Draw(t, "voter") {
				voters = append(voters, NodeID(id))
			} else {
				learners = append(learners, NodeID(id))
			}
		}
		m := NewMembership(voters, learners)
		want := append(slices.Clone(m.Voters), m.Learners...)
		slices.Sort(want)
		if got := m.Members(); !slices.Equal(got, want) {
			t.Fatalf("Members(%v) = %v, want %v", m, got, want)
		}
	})
}

// Recover finds the newest config entry in the log: the change is pending
// until the commit index reaches it, and not after.
func TestRecoverPendingConfig(t *testing.T) {
	next := NewMembership([]NodeID{"n1", "n2", "n3"}, []NodeID{"n4"})
	es := []Entry{
		{Term: 1, Index: 1, Type: EntryNoop},
		{Term: 1, Index: 2, Type: EntryConfig, Data: MarshalConfig(ConfChange{Op: ConfAddLearner, Node: "n4"}, next)},
		{Term: 1, Index: 3, Data: []byte("x")},
	}
	for _, tc := range []struct {
		commit  uint64
		pending bool
	}{{1, true}, {2, false}, {3, false}} {
		e := newFollower(t, Recover{HardState: HardState{Term: 1, Commit: tc.commit}, Entries: es})
		st := e.Status()
		if st.PendingConfig != tc.pending || !st.Membership.Equal(next) {
			t.Errorf("commit %d: pending %v membership %s, want pending %v membership %s", tc.commit, st.PendingConfig, st.Membership, tc.pending, next)
		}
	}
}
