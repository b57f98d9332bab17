package engine

import "testing"

// soloLeader returns the leader of a one-voter cluster, its no-op entry
// committed and applied.
func soloLeader(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.ID, cfg.Peers, cfg.Seed = "n1", []NodeID{"n1"}, 1
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{})
	for i := 0; i < 100 && e.role != Leader; i++ {
		e.Step(Tick{})
	}
	if e.role != Leader {
		t.Fatalf("not leader: %s", e.Status())
	}
	e.Step(LogPersisted{Index: e.log.lastIndex(), Term: e.term})
	return e
}

// commitOne proposes data, makes it durable and returns whether the step
// that committed it asked for a snapshot (and at which index).
func commitOne(t *testing.T, e *Engine, data []byte) (hint uint64, ok bool) {
	t.Helper()
	e.Step(Propose{ID: e.log.lastIndex() + 100, Data: data})
	for _, a := range e.Step(LogPersisted{Index: e.log.lastIndex(), Term: e.term}) {
		if h, isHint := a.(SnapshotHint); isHint {
			hint, ok = h.Index, true
		}
	}
	if e.log.applied != e.log.lastIndex() {
		t.Fatalf("entry %d not applied (applied %d)", e.log.lastIndex(), e.log.applied)
	}
	return hint, ok
}

// By default a snapshot is asked for once the entries applied since the
// last one weigh SnapshotMinBytes, then as much as the last snapshot: a
// snapshot of 3000 bytes waits for 3000 bytes of log.
func TestSnapshotHintByBytes(t *testing.T) {
	e := soloLeader(t, Config{SnapshotMinBytes: 1000})
	data := make([]byte, 76) // weighs 100 with the entry overhead
	// The no-op weighs 24: 24 + 9*100 < 1000, the tenth entry reaches it.
	for i := 1; i <= 9; i++ {
		if h, ok := commitOne(t, e, data); ok {
			t.Fatalf("entry %d of 100 bytes asked for a snapshot at %d with 1000 bytes the minimum", i, h)
		}
	}
	h, ok := commitOne(t, e, data)
	if !ok || h != e.log.applied {
		t.Fatalf("10 entries of 100 bytes: hint %d, %v; want one at %d", h, ok, e.log.applied)
	}
	e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: h, Term: e.term, Size: 3000}})
	if e.log.appliedBytes != 0 {
		t.Fatalf("appliedBytes after a snapshot at the applied index = %d, want 0", e.log.appliedBytes)
	}
	for i := 1; i <= 29; i++ {
		if h, ok := commitOne(t, e, data); ok {
			t.Fatalf("entry %d after a snapshot of 3000 bytes asked for one at %d", i, h)
		}
	}
	if _, ok := commitOne(t, e, data); !ok {
		t.Fatal("3000 bytes after a snapshot of 3000 bytes did not ask for one")
	}
}

// A snapshot taken below the applied index leaves the entries after it
// counted toward the next one.
func TestSnapshotBelowAppliedKeepsLaterBytes(t *testing.T) {
	e := soloLeader(t, Config{SnapshotMinBytes: 1 << 20})
	data := make([]byte, 76)
	for range 10 {
		commitOne(t, e, data)
	}
	at := e.log.applied - 4
	e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: at, Term: e.term, Size: 10}})
	if e.log.snap.Index != at {
		t.Fatalf("snapshot index %d, want %d", e.log.snap.Index, at)
	}
	if got, want := e.log.appliedBytes, uint64(400); got != want {
		t.Errorf("appliedBytes = %d, want %d (the 4 entries after the snapshot)", got, want)
	}
}

// SnapshotEntries, when set, counts entries and ignores bytes.
func TestSnapshotHintByEntries(t *testing.T) {
	e := soloLeader(t, Config{SnapshotEntries: 3, SnapshotMinBytes: 1})
	if _, ok := commitOne(t, e, nil); ok {
		t.Fatal("2 applied entries with SnapshotEntries 3 asked for a snapshot")
	}
	if _, ok := commitOne(t, e, nil); !ok {
		t.Fatal("3 applied entries with SnapshotEntries 3 did not ask for a snapshot")
	}
}

// A restored snapshot counts only the kept entries it leaves applied.
func TestResetCountsKeptAppliedBytes(t *testing.T) {
	var l raftLog
	for i := uint64(1); i <= 6; i++ {
		l.append(Entry{Term: 1, Index: i, Data: make([]byte, 6)}) // 30 each
	}
	l.commit, l.applied, l.appliedBytes = 6, 6, 180
	l.reset(SnapshotMeta{Index: 4, Term: 1}, true)
	if got, want := l.appliedBytes, uint64(60); got != want {
		t.Errorf("after a reset at 4 keeping entries 5-6 (applied): appliedBytes = %d, want %d", got, want)
	}
	l.reset(SnapshotMeta{Index: 9, Term: 2}, false)
	if l.appliedBytes != 0 {
		t.Errorf("after a reset dropping the log: appliedBytes = %d, want 0", l.appliedBytes)
	}
}

// A snapshot keeps below it as much log as it weighs (and at least
// CompactionKeep entries): a follower behind by less catches up from the
// log.
func TestCompactionKeepsSnapshotWeight(t *testing.T) {
	for _, c := range []struct {
		name                 string
		size                 uint64 // of the snapshot
		keep                 uint64 // CompactionKeep
		maxEntries, maxBytes uint64 // MaxLogEntries, MaxLogBytes
		wantFloor            uint64
	}{
		{"a snapshot of 350 bytes keeps the 3 entries of 100 below it", 350, 1, 0, 0, 16},
		{"a snapshot of exactly 300 bytes keeps 3 entries of 100", 300, 1, 0, 0, 16},
		{"a snapshot at CompactionKeep keeps the whole log", 10, 20, 0, 0, 0},
		{"a tiny snapshot keeps CompactionKeep entries", 10, 2, 0, 0, 20 - 2},
		{"a huge snapshot keeps the whole log", 1 << 20, 1, 0, 0, 0},
		{"at most MaxLogEntries below the snapshot", 1 << 20, 1, 5, 0, 15},
		{"at most MaxLogBytes below the snapshot", 1 << 20, 1, 0, 250, 17},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := soloLeader(t, Config{SnapshotMinBytes: 1 << 30, CompactionKeep: c.keep, MaxLogEntries: c.maxEntries, MaxLogBytes: c.maxBytes})
			data := make([]byte, 76) // weighs 100
			for e.log.applied < 20 {
				commitOne(t, e, data)
			}
			e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: 20, Term: e.term, Size: c.size}})
			if e.log.floor != c.wantFloor {
				t.Errorf("floor after a snapshot of %d bytes at 20 = %d, want %d", c.size, e.log.floor, c.wantFloor)
			}
			if want := e.log.weight(e.log.floor+1, 21); e.log.behind != want {
				t.Errorf("behind = %d, want %d", e.log.behind, want)
			}
		})
	}
}
