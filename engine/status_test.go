package engine

import (
	"testing"
)

func TestEnumStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Follower.String(), "follower"}, {PreCandidate.String(), "pre-candidate"}, {Candidate.String(), "candidate"},
		{Leader.String(), "leader"}, {Role(9).String(), "Role(9)"},
		{Probe.String(), "probe"}, {Replicate.String(), "replicate"}, {Snapshot.String(), "snapshot"}, {ProgressState(7).String(), "ProgressState(7)"},
		{EntryNormal.String(), "normal"}, {EntryNoop.String(), "noop"}, {EntryConfig.String(), "config"}, {EntryType(5).String(), "EntryType(5)"},
		{Entry{Term: 2, Index: 7}.String(), "2/7"}, {SnapshotMeta{Term: 3, Index: 9}.String(), "3/9"},
		{Status{ID: "n1", Role: Leader, Term: 2, Leader: "n1", Commit: 5, Applied: 4, LastIndex: 6, LastTerm: 2, Membership: NewMembership(ids("n1 n2"), nil)}.String(),
			"n1 leader term=2 leader=n1 commit=5 applied=4 last=2/6 voters=(n1 n2) learners=()"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if EntryType(3).Valid() || !EntryConfig.Valid() {
		t.Error("EntryType.Valid wrong")
	}
}

func TestStatusSharesNoMemory(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.elect("n1")
	s := c.nodes["n1"].e.Status()
	s.Membership.Voters[0] = "zz"
	s.Followers[0].Match = 99
	s2 := c.nodes["n1"].e.Status()
	if s2.Membership.Voters[0] != "n1" || s2.Followers[0].Match == 99 {
		t.Fatal("Status shares memory with the engine")
	}
	if s2.Counters.ElectionsWon != 1 || s2.Counters.EntriesCommitted == 0 {
		t.Fatalf("counters: %+v", s2.Counters)
	}
}
