package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// newFollower returns n2 of n1, n2, n3 recovered from the given durable
// state.
func newFollower(t *testing.T, r Recover) *Engine {
	t.Helper()
	e, err := New(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(r)
	return e
}

var threeVoters = NewMembership([]NodeID{"n1", "n2", "n3"}, nil)

// A follower restored from a snapshot truncates a conflicting uncommitted
// suffix above it (Raft §5.3) and keeps the rest.
func TestFollowerTruncatesAboveSnapshot(t *testing.T) {
	snap := SnapshotMeta{Index: 5, Term: 1, Membership: threeVoters}
	var es []Entry
	for i := uint64(6); i <= 9; i++ {
		es = append(es, Entry{Term: 1, Index: i, Data: []byte{byte(i)}})
	}
	e := newFollower(t, Recover{HardState: HardState{Term: 1, Commit: 6}, Snapshot: snap, Entries: es})
	z := Entry{Term: 2, Index: 8, Data: []byte("z")}
	got := e.Step(Receive{Msg: Message{Type: MsgApp, From: "n3", To: "n2", Term: 2, PrevIndex: 7, PrevTerm: 1, Entries: []Entry{z}, Commit: 8}})
	want := []Action{
		RoleChanged{Role: Follower, Term: 2, Leader: "n3"},
		TruncateLog{Index: 8},
		PersistEntries{Entries: []Entry{z}},
		ApplyEntries{Entries: []Entry{es[1], z}},
		PersistHardState{HardState: HardState{Term: 2, Commit: 8}},
		Send{Msg: Message{Type: MsgAppResp, From: "n2", To: "n3", Term: 2, Index: 8}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("follower on a conflicting MsgApp (-want +got):\n%s", d)
	}
	st := e.Status()
	if st.FirstIndex != 6 || st.LastIndex != 8 || st.LastTerm != 2 || st.Commit != 8 {
		t.Fatalf("log [%d, %d] last term %d commit %d, want [6, 8] term 2 commit 8", st.FirstIndex, st.LastIndex, st.LastTerm, st.Commit)
	}
	// The log goes on from the new entry.
	w := Entry{Term: 2, Index: 9, Data: []byte("w")}
	got = e.Step(Receive{Msg: Message{Type: MsgApp, From: "n3", To: "n2", Term: 2, PrevIndex: 8, PrevTerm: 2, Entries: []Entry{w}, Commit: 8}})
	want = []Action{PersistEntries{Entries: []Entry{w}}, Send{Msg: Message{Type: MsgAppResp, From: "n2", To: "n3", Term: 2, Index: 9}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("follower on the next MsgApp (-want +got):\n%s", d)
	}
}

// A snapshot that ends on an entry the follower holds (same index and
// term) keeps the entries after it (Raft §7: "If existing log entry has
// same index and term as snapshot's last included entry, retain log
// entries following it"); one that does not match discards the log.
func TestSnapshotInstallKeepsMatchingTail(t *testing.T) {
	for _, tc := range []struct {
		name     string
		snapTerm uint64
		keep     bool
		last     uint64
	}{
		{"matching entry", 1, true, 5},
		{"other term", 2, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFollower(t, Recover{})
			var es []Entry
			for i := uint64(1); i <= 5; i++ {
				es = append(es, Entry{Term: 1, Index: i, Data: []byte{byte(i)}})
			}
			e.Step(Receive{Msg: Message{Type: MsgApp, From: "n1", To: "n2", Term: 2, Entries: es}})
			meta := SnapshotMeta{Index: 3, Term: tc.snapTerm, Membership: threeVoters, Size: 3}
			got := e.Step(Receive{Msg: Message{Type: MsgSnap, From: "n1", To: "n2", Term: 2, Snapshot: meta, Data: []byte("abc"), Done: true}})
			want := []Action{
				WriteSnapshotChunk{Meta: meta, Data: []byte("abc"), Done: true},
				RestoreSnapshot{Meta: meta, KeepLog: tc.keep},
				MembershipChanged{Membership: threeVoters},
				Send{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 2, Index: 3}},
				PersistHardState{HardState: HardState{Term: 2, Commit: 3}},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("follower on the snapshot (-want +got):\n%s", d)
			}
			st := e.Status()
			if st.SnapshotIndex != 3 || st.LastIndex != tc.last || st.Counters.SnapshotsInstalled != 1 {
				t.Fatalf("snapshot %d last %d installed %d, want 3, %d, 1", st.SnapshotIndex, st.LastIndex, st.Counters.SnapshotsInstalled, tc.last)
			}
		})
	}
}

// A snapshot that ends at the follower's commit index brings nothing new:
// the follower says where it stands and writes nothing.
func TestSnapshotAtCommitIndexNotInstalled(t *testing.T) {
	e := newFollower(t, Recover{})
	es := []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 1, Index: 3}}
	e.Step(Receive{Msg: Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: es, Commit: 3}})
	meta := SnapshotMeta{Index: 3, Term: 1, Membership: threeVoters}
	got := e.Step(Receive{Msg: Message{Type: MsgSnap, From: "n1", To: "n2", Term: 1, Snapshot: meta, Data: []byte("abc"), Done: true}})
	want := []Action{Send{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 1, Index: 3}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("follower on a snapshot at its commit index (-want +got):\n%s", d)
	}
}

// A follower that installed a leader's snapshot and then takes its own
// keeps CompactionKeep entries below it; when that is exactly the floor
// the snapshot left, there is nothing to compact.
func TestOwnSnapshotAfterInstallCompactsOnlyBelowFloor(t *testing.T) {
	for _, tc := range []struct {
		at   uint64
		want []Action
	}{
		{5, nil},
		{6, []Action{CompactLog{Index: 4}}},
	} {
		e, err := New(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, CompactionKeep: 2, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		e.Step(Recover{})
		meta := SnapshotMeta{Index: 3, Term: 1, Membership: threeVoters}
		e.Step(Receive{Msg: Message{Type: MsgSnap, From: "n1", To: "n2", Term: 1, Snapshot: meta, Data: []byte("abc"), Done: true}})
		es := []Entry{{Term: 1, Index: 4}, {Term: 1, Index: 5}, {Term: 1, Index: 6}}
		e.Step(Receive{Msg: Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, PrevIndex: 3, PrevTerm: 1, Entries: es, Commit: 6}})
		got := e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: tc.at, Term: 1}})
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("snapshot at %d over floor 3 with CompactionKeep 2 (-want +got):\n%s", tc.at, d)
		}
		if st := e.Status(); st.SnapshotIndex != tc.at {
			t.Errorf("snapshot index %d, want %d", st.SnapshotIndex, tc.at)
		}
	}
}

// The live-log guardrails count the entries above the log floor and their
// bytes: a log at exactly MaxLogEntries entries or MaxLogBytes bytes asks
// for no snapshot, one entry more does; after a snapshot compacted the
// log, only the entries above the new floor count.
func TestSnapshotHintLiveLogLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		hint uint64 // the index whose commit asks for a snapshot
	}{
		{"entries", Config{MaxLogEntries: 4}, 5},
		{"bytes", Config{MaxLogBytes: 3 * entryOverhead}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.ID, cfg.Peers, cfg.CompactionKeep, cfg.Seed = "n1", []NodeID{"n1"}, 1, 1
			e, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e.Step(Recover{})
			for i := 0; i < 100 && e.role != Leader; i++ {
				e.Step(Tick{})
			}
			hints := func(as []Action) []uint64 {
				var out []uint64
				for _, a := range as {
					if h, ok := a.(SnapshotHint); ok {
						out = append(out, h.Index)
					}
				}
				return out
			}
			for i := uint64(1); i <= tc.hint; i++ {
				if i > 1 {
					e.Step(Propose{ID: i})
				}
				got := hints(e.Step(LogPersisted{Index: i, Term: 1}))
				var want []uint64
				if i == tc.hint {
					want = []uint64{i}
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Fatalf("hints on committing %d (-want +got):\n%s", i, d)
				}
			}
			e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: tc.hint, Term: 1}})
			e.Step(Propose{ID: 99})
			if got := hints(e.Step(LogPersisted{Index: tc.hint + 1, Term: 1})); len(got) != 0 {
				t.Fatalf("hint %v with 2 live entries after the snapshot", got)
			}
		})
	}
}

// The same above an earlier snapshot's floor: a follower restored from a
// snapshot at 2 that holds 3..6 keeps 5..6 when it installs one at 4.
func TestSnapshotInstallKeepsTailAboveFloor(t *testing.T) {
	var es []Entry
	for i := uint64(3); i <= 6; i++ {
		es = append(es, Entry{Term: 1, Index: i, Data: []byte{byte(i)}})
	}
	e := newFollower(t, Recover{HardState: HardState{Term: 1, Commit: 2}, Snapshot: SnapshotMeta{Index: 2, Term: 1, Membership: threeVoters}, Entries: es})
	meta := SnapshotMeta{Index: 4, Term: 1, Membership: threeVoters}
	got := e.Step(Receive{Msg: Message{Type: MsgSnap, From: "n1", To: "n2", Term: 1, Snapshot: meta, Data: []byte("abcd"), Done: true}})
	want := []Action{
		RoleChanged{Role: Follower, Term: 1, Leader: "n1"},
		WriteSnapshotChunk{Meta: meta, Data: []byte("abcd"), Done: true},
		RestoreSnapshot{Meta: meta, KeepLog: true},
		MembershipChanged{Membership: threeVoters},
		Send{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 1, Index: 4}},
		PersistHardState{HardState: HardState{Term: 1, Commit: 4}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("follower on the snapshot (-want +got):\n%s", d)
	}
	if st := e.Status(); st.FirstIndex != 5 || st.LastIndex != 6 || st.Commit != 4 {
		t.Fatalf("log [%d, %d] commit %d, want [5, 6] commit 4", st.FirstIndex, st.LastIndex, st.Commit)
	}
}
