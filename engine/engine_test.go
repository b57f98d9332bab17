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

func TestIgnoredRequests(t *testing.T) {
	c := newCluster(t, 3, nil)
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
	c := newCluster(t, 3, nil)
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
