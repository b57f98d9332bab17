package node

import (
	"log/slog"
	"testing"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
)

// A snapshot that reaches past the entries this node's log has made
// durable (a leader applies what its followers acknowledged before its own
// write finishes) is held, not refused: the users waiting for it and the
// engine hear of it when the log's write of its last entry is reported,
// and it is then recorded. Refused, it failed a user's Snapshot call with
// "snapshot beyond the last durable entry" and logged a retry (CI, in
// TestStorageFailureStopsTheNode).
func TestSnapshotAheadOfTheLog(t *testing.T) {
	logs, err := raftlog.Open(t.TempDir(), raftlog.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	ents := func(from, to uint64) []engine.Entry {
		var es []engine.Entry
		for i := from; i <= to; i++ {
			es = append(es, engine.Entry{Index: i, Term: 1, Data: []byte("x")})
		}
		return es
	}
	if err := logs.Write(raftlog.Batch{Entries: ents(1, 20)}); err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: Config{ID: "n1", Logger: slog.New(slog.DiscardHandler)}, w: newWaiters(), logs: logs}
	waiter := make(chan snapDone, 1)
	n.d.snapWaiters = append(n.d.snapWaiters, waiter)
	n.d.snapshotting = true

	meta := engine.SnapshotMeta{Index: 22, Term: 1, Membership: engine.Membership{Voters: []engine.NodeID{"n1"}}}
	if ev := n.snapshotFinished(snapDone{meta: meta}); ev != nil {
		t.Fatalf("snapshot beyond the durable log: event %#v, want it held", ev)
	}
	if !n.d.snapshotting || n.d.snapAhead == nil {
		t.Fatal("held snapshot not remembered as in progress")
	}
	// A write that does not reach it yet changes nothing.
	if err := logs.Write(raftlog.Batch{Entries: ents(21, 21)}); err != nil {
		t.Fatal(err)
	}
	if evs := n.persistedEvents(nil, engine.Entry{Index: 21, Term: 1}); len(evs) != 1 {
		t.Fatalf("events after a write short of the snapshot: %#v, want LogPersisted alone", evs)
	}
	select {
	case sd := <-waiter:
		t.Fatalf("waiter answered before the snapshot was recorded: %+v", sd)
	default:
	}
	// The write of its last entry records it.
	if err := logs.Write(raftlog.Batch{Entries: ents(22, 23)}); err != nil {
		t.Fatal(err)
	}
	evs := n.persistedEvents(nil, engine.Entry{Index: 23, Term: 1})
	if len(evs) != 2 {
		t.Fatalf("events after the write reached the snapshot: %#v, want LogPersisted and SnapshotTaken", evs)
	}
	if taken, ok := evs[1].(engine.SnapshotTaken); !ok || taken.Meta.Index != 22 {
		t.Fatalf("second event %#v, want SnapshotTaken at 22", evs[1])
	}
	select {
	case sd := <-waiter:
		if sd.err != nil || sd.meta.Index != 22 {
			t.Fatalf("waiter got %+v, want the snapshot at 22", sd)
		}
	default:
		t.Fatal("waiter not answered once the snapshot was recorded")
	}
	if n.d.snapshotting || n.d.snapAhead != nil {
		t.Fatal("snapshot still in progress after it was recorded")
	}
	st, err := logs.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot.Index != 22 {
		t.Fatalf("log's recorded snapshot %d, want 22", st.Snapshot.Index)
	}
}
