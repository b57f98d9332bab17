package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newTestEngine(t *testing.T, id NodeID, peers ...NodeID) *Engine {
	t.Helper()
	e, err := New(Config{ID: id, Peers: peers, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRecoverRestoresDurableState(t *testing.T) {
	snap := SnapshotMeta{Index: 3, Term: 1, Membership: NewMembership(ids("n1 n2"), ids("n3"))}
	conf := MarshalConfig(ConfChange{Op: ConfPromote, Node: "n3"}, NewMembership(ids("n1 n2 n3"), nil))
	entries := []Entry{
		{Term: 1, Index: 2},                                // below the snapshot: skipped
		{Term: 1, Index: 3},                                // at the snapshot: skipped
		{Term: 2, Index: 4, Type: EntryNoop},               // live
		{Term: 2, Index: 5, Type: EntryConfig, Data: conf}, // newest config
		{Term: 2, Index: 6, Data: []byte("x")},
		{Term: 2, Index: 8, Data: []byte("gap")}, // a gap: the log ends before it
	}
	e := newTestEngine(t, "n1", "n1", "n2")
	as := e.Step(Recover{HardState: HardState{Term: 3, Vote: "n2", Commit: 5}, Snapshot: snap, Entries: entries})
	want := []Action{ApplyEntries{Entries: []Entry{entries[2], entries[3]}}}
	if d := cmp.Diff(want, as); d != "" {
		t.Fatalf("recover actions (-want +got):\n%s", d)
	}
	s := e.Status()
	got := []any{s.Term, s.Vote, s.Commit, s.Applied, s.FirstIndex, s.LastIndex, s.LastTerm, s.SnapshotIndex, s.Membership.String(), s.Role}
	wantS := []any{uint64(3), NodeID("n2"), uint64(5), uint64(5), uint64(4), uint64(6), uint64(2), uint64(3), "voters=(n1 n2 n3) learners=()", Follower}
	if d := cmp.Diff(wantS, got); d != "" {
		t.Fatalf("status (-want +got):\n%s", d)
	}
	// A second Recover is ignored, and so is one after other events.
	if as := e.Step(Recover{HardState: HardState{Term: 9}}); len(as) != 0 || e.Status().Term != 3 {
		t.Fatalf("second Recover: %v, term %d", as, e.Status().Term)
	}
	e2 := newTestEngine(t, "n1", "n1", "n2")
	e2.Step(Tick{})
	e2.Step(Recover{HardState: HardState{Term: 9}})
	if e2.Status().Term != 0 {
		t.Fatal("Recover after another event was applied")
	}
	// A nil event is a no-op.
	if as := e.Step(nil); len(as) != 0 {
		t.Fatalf("Step(nil) = %v", as)
	}
}

func TestStatusSharesNoMemory(t *testing.T) {
	c := newTestCluster(t, 3, nil)
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

func TestIgnoredRequests(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect("n1")
	c.tick()
	leader, follower := c.nodes["n1"].e, c.nodes["n2"].e

	// Requests to a follower.
	got := follower.Step(ChangeMembership{ID: 7, Change: ConfChange{Op: ConfAddLearner, Node: "n4"}})
	if d := cmp.Diff([]Action{ProposalRejected{ID: 7, Err: ErrNotLeader, Leader: "n1"}}, got, cmp.Comparer(func(a, b error) bool { return a == b })); d != "" {
		t.Fatalf("change on follower (-want +got):\n%s", d)
	}
	if got := follower.Step(TransferLeadership{To: "n3"}); len(got) != 0 {
		t.Fatalf("transfer on follower: %v", got)
	}
	if got := leader.Step(ProposeBatch{}); len(got) != 0 {
		t.Fatalf("empty batch: %v", got)
	}
	// Transfers to itself, to a stranger, or twice to the same target do
	// nothing more.
	for _, to := range []NodeID{"n1", "n9"} {
		if got := leader.Step(TransferLeadership{To: to}); len(got) != 0 {
			t.Fatalf("transfer to %s: %v", to, got)
		}
	}
	// Snapshot reports that do not fit are ignored.
	before := leader.Status()
	for _, m := range []SnapshotMeta{
		{Index: before.Applied + 1, Term: before.Term}, // not applied yet
		{Index: before.Applied, Term: before.Term + 1}, // wrong term
		{Index: 0}, // not above the floor
	} {
		if got := leader.Step(SnapshotTaken{Meta: m}); len(got) != 0 || leader.Status().SnapshotIndex != 0 {
			t.Fatalf("SnapshotTaken(%v): %v", m, got)
		}
	}
	if got := leader.Step(SnapshotFailed{Index: 42}); len(got) != 0 {
		t.Fatalf("SnapshotFailed: %v", got)
	}
	// A persistence report for an entry of another term is ignored.
	if got := leader.Step(LogPersisted{Index: 1, Term: 9}); len(got) != 0 {
		t.Fatalf("LogPersisted with a wrong term: %v", got)
	}
	// SnapshotChunkFailed on a follower, or for a peer not in snapshot
	// state, is ignored.
	if got := follower.Step(SnapshotChunkFailed{To: "n1"}); len(got) != 0 {
		t.Fatalf("SnapshotChunkFailed on follower: %v", got)
	}
	if got := leader.Step(SnapshotChunkFailed{To: "n2"}); len(got) != 0 {
		t.Fatalf("SnapshotChunkFailed for a replicating peer: %v", got)
	}
}

// TestMalformedMessagesIgnored: messages that are not for this node, come
// from itself or an invalid ID, or have an unknown type change nothing.
func TestMalformedMessagesIgnored(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect("n1")
	e := c.nodes["n2"].e
	before := e.Status()
	for _, m := range []Message{
		{Type: MsgApp, From: "n1", To: "n3", Term: 9},
		{Type: MsgApp, From: "n2", To: "n2", Term: 9},
		{Type: MsgApp, From: "bad id", To: "n2", Term: 9},
		{Type: MsgApp, From: "", To: "n2", Term: 9},
		{Type: MsgNone, From: "n1", To: "n2", Term: 9},
		{Type: maxMessageType, From: "n1", To: "n2", Term: 9},
		// Entries that are not contiguous or have an unknown type.
		{Type: MsgApp, From: "n1", To: "n2", Term: before.Term, PrevIndex: 1, PrevTerm: 1, Entries: []Entry{{Term: 1, Index: 3}}},
		{Type: MsgApp, From: "n1", To: "n2", Term: before.Term, PrevIndex: 1, PrevTerm: 1, Entries: []Entry{{Term: 1, Index: 2, Type: 7}}},
		{Type: MsgApp, From: "n1", To: "n2", Term: before.Term, PrevIndex: 1, PrevTerm: 1, Entries: []Entry{{Term: 1, Index: 2}, {Term: 1, Index: 4}}},
	} {
		for _, a := range e.Step(Receive{Msg: m}) {
			if _, ok := a.(PersistEntries); ok {
				t.Fatalf("%v: appended entries", m)
			}
		}
	}
	after := e.Status()
	if after.Term != before.Term || after.LastIndex != before.LastIndex {
		t.Fatalf("state changed: before %v, after %v", before, after)
	}
}
