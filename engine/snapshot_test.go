package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

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

// snapshotTransfer returns a leader that streams a snapshot of size bytes
// (chunks of 10 bytes, window chunks in flight) to its learner n2, and the
// offsets of the chunks it sent first.
func snapshotTransfer(t *testing.T, size uint64, window int) (*Engine, []uint64) {
	t.Helper()
	e := soloLeader(t, Config{CompactionKeep: 1, MaxLogBytes: 1, SnapshotChunkBytes: 10, SnapshotWindow: window})
	for range 3 {
		commitOne(t, e, []byte{1})
	}
	e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: e.log.applied, Term: e.term, Size: size}})
	var probe Message
	for _, a := range e.Step(ChangeMembership{ID: 1, Change: ConfChange{Op: ConfAddLearner, Node: "n2"}}) {
		if s, ok := a.(Send); ok && s.Msg.To == "n2" {
			probe = s.Msg
		}
	}
	if probe.Type != MsgApp {
		t.Fatalf("no probe to the learner")
	}
	rej := Message{Type: MsgAppResp, From: "n2", To: "n1", Term: e.term, Reject: true, Index: probe.PrevIndex}
	first := chunkOffsets(t, e.Step(Receive{Msg: rej}))
	if pr := e.progress["n2"]; pr.state != Snapshot {
		t.Fatalf("learner in %s, want snapshot", pr.state)
	}
	return e, first
}

// chunkOffsets returns the offsets of the chunks that actions send.
func chunkOffsets(t *testing.T, as []Action) []uint64 {
	t.Helper()
	var offs []uint64
	for _, a := range as {
		if s, ok := a.(SendSnapshot); ok {
			if s.MaxBytes != 10 {
				t.Errorf("chunk of %d bytes, want 10", s.MaxBytes)
			}
			offs = append(offs, s.Msg.Offset)
		}
	}
	return offs
}

// snapAnswer steps n2's answer to the chunk at off, expecting next, and
// returns the offsets of the chunks the leader sends.
func snapAnswer(t *testing.T, e *Engine, next, off uint64) []uint64 {
	t.Helper()
	m := Message{Type: MsgSnapResp, From: "n2", To: "n1", Term: e.term, Snapshot: e.log.snap, Index: next, Offset: off}
	return chunkOffsets(t, e.Step(Receive{Msg: m}))
}

// The leader keeps SnapshotWindow chunks in flight, slides the window on
// every answer that moves the follower's offset, goes back once per
// position to a gap the follower reports, and ignores the rest.
func TestSnapshotWindow(t *testing.T) {
	e, first := snapshotTransfer(t, 95, 3)
	if d := cmp.Diff([]uint64{0, 10, 20}, first); d != "" {
		t.Fatalf("first chunks (-want +got):\n%s", d)
	}
	pr := e.progress["n2"]
	steps := []struct {
		name      string
		next, off uint64
		want      []uint64
		acked     uint64
	}{
		{"an answer slides the window", 10, 0, []uint64{30}, 10},
		{"a duplicate moves nothing", 10, 0, nil, 10},
		{"an answer to a chunk at the expected offset is no gap", 10, 10, nil, 10},
		{"an overtaken answer moves nothing", 5, 0, nil, 10},
		{"a gap sends the window again from the follower's offset", 10, 20, []uint64{10, 20, 30}, 10},
		{"the same gap reported by a later chunk is ignored", 10, 30, nil, 10},
		{"an answer after the gap slides the window", 20, 10, []uint64{40}, 20},
		{"a gap found with a new offset goes back to it", 30, 40, []uint64{30, 40, 50}, 30},
		{"a follower ahead of the window moves it", 70, 0, []uint64{70, 80, 90}, 70},
		{"an offset at or beyond the size is no offset of the snapshot", 95, 0, nil, 70},
		{"a follower that starts over is sent the snapshot again", 0, 90, []uint64{0, 10, 20}, 0},
	}
	for _, s := range steps {
		got := snapAnswer(t, e, s.next, s.off)
		if d := cmp.Diff(s.want, got); d != "" {
			t.Errorf("%s: chunks sent on next=%d off=%d (-want +got):\n%s", s.name, s.next, s.off, d)
		}
		if pr.snapAcked != s.acked {
			t.Errorf("%s: acknowledged offset %d, want %d", s.name, pr.snapAcked, s.acked)
		}
	}
	// The last chunk ends at the size, not at a whole chunk.
	snapAnswer(t, e, 90, 80)
	if pr.snapSent != 95 {
		t.Errorf("sent up to %d after the last chunk, want the size 95", pr.snapSent)
	}
}

// Without answers the leader sends nothing until half an election timeout
// has passed since the last chunk, then sends the window again from the
// acknowledged offset.
func TestSnapshotIdleRetransmit(t *testing.T) {
	e, _ := snapshotTransfer(t, 95, 2)
	snapAnswer(t, e, 10, 0) // sends 20
	for i := 1; i < e.cfg.ElectionTicks/2+1; i++ {
		if got := chunkOffsets(t, e.Step(Tick{})); got != nil {
			t.Fatalf("tick %d without answers sent chunks %v", i, got)
		}
	}
	if d := cmp.Diff([]uint64{10, 20}, chunkOffsets(t, e.Step(Tick{}))); d != "" {
		t.Fatalf("retransmission (-want +got):\n%s", d)
	}
	// The old copies' gap reports are about what was just sent again.
	if got := snapAnswer(t, e, 10, 20); got != nil {
		t.Errorf("a gap at the offset just retransmitted sent %v again", got)
	}
}

// A snapshot of unknown size goes one chunk at a time: the next chunk
// leaves when the follower acknowledges the previous one.
func TestSnapshotUnknownSizeStopAndWait(t *testing.T) {
	e, first := snapshotTransfer(t, 0, 4)
	if d := cmp.Diff([]uint64{0}, first); d != "" {
		t.Fatalf("first chunks (-want +got):\n%s", d)
	}
	for _, s := range []struct {
		next, off uint64
		want      []uint64
	}{
		{10, 0, []uint64{10}},
		{10, 0, nil},
		{20, 10, []uint64{20}},
		{20, 30, []uint64{20}}, // a gap
		{1 << 40, 20, []uint64{1 << 40}},
	} {
		if d := cmp.Diff(s.want, snapAnswer(t, e, s.next, s.off)); d != "" {
			t.Errorf("next=%d off=%d: chunks (-want +got):\n%s", s.next, s.off, d)
		}
	}
}

// The idle count restarts when an answer slides the window: a follower
// that is slow with the last chunks, all of them sent, is not sent them
// again while it keeps answering.
func TestSnapshotIdleCountsFromProgress(t *testing.T) {
	e, first := snapshotTransfer(t, 35, 4)
	if d := cmp.Diff([]uint64{0, 10, 20, 30}, first); d != "" {
		t.Fatalf("first chunks (-want +got):\n%s", d)
	}
	quiet := e.cfg.ElectionTicks / 2 // ticks without a retransmission
	for i := range quiet {
		if got := chunkOffsets(t, e.Step(Tick{})); got != nil {
			t.Fatalf("tick %d sent chunks %v", i+1, got)
		}
	}
	if got := snapAnswer(t, e, 10, 0); got != nil {
		t.Fatalf("an answer with every chunk sent sent %v", got)
	}
	for i := range quiet {
		if got := chunkOffsets(t, e.Step(Tick{})); got != nil {
			t.Fatalf("tick %d after the answer sent chunks %v", i+1, got)
		}
	}
	if d := cmp.Diff([]uint64{10, 20, 30}, chunkOffsets(t, e.Step(Tick{}))); d != "" {
		t.Fatalf("retransmission once idle (-want +got):\n%s", d)
	}
}

// Snapshot hints: exactly SnapshotEntries applied entries since the last
// snapshot asks for one; one fewer does not.
func TestSnapshotHintThreshold(t *testing.T) {
	for _, c := range []struct {
		applied uint64
		want    bool
	}{{9, false}, {10, true}} {
		e, err := New(Config{ID: "n1", Peers: []NodeID{"n1"}, SnapshotEntries: 10, MaxLogEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(1); i <= c.applied; i++ {
			e.log.append(Entry{Term: 1, Index: i})
		}
		e.log.commit, e.log.applied = c.applied, c.applied
		e.out = nil
		e.maybeHintSnapshot()
		got := len(e.out) == 1
		if got != c.want {
			t.Errorf("applied %d with SnapshotEntries 10: hint=%v, want %v", c.applied, got, c.want)
		}
	}
	// The live-log guardrail: more than MaxLogEntries entries asks for one.
	e, _ := New(Config{ID: "n1", Peers: []NodeID{"n1"}, SnapshotEntries: 1000, MaxLogEntries: 5})
	for i := uint64(1); i <= 5; i++ {
		e.log.append(Entry{Term: 1, Index: i})
	}
	e.log.commit, e.log.applied = 1, 1
	e.out = nil
	e.maybeHintSnapshot()
	if len(e.out) != 0 {
		t.Error("5 live entries with MaxLogEntries 5 asked for a snapshot")
	}
	e.log.append(Entry{Term: 1, Index: 6})
	e.maybeHintSnapshot()
	if len(e.out) != 1 {
		t.Error("6 live entries with MaxLogEntries 5 did not ask for a snapshot")
	}
}
