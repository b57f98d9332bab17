package engine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostAppliedRecover is the durable state of n1 of n1, n2, n3: a snapshot
// at 3, then entries 4..8 of term 2 whose data is 50 bytes (entry 5 a
// config entry), committed through 7; the host applied 4..6 itself while
// reading its log and passes them without data (except the config entry).
func hostAppliedRecover() (Recover, []Entry) {
	voters := NewMembership(ids("n1 n2 n3"), nil)
	conf := MarshalConfig(ConfChange{Op: ConfAddLearner, Node: "n4"}, NewMembership(ids("n1 n2 n3"), ids("n4")))
	full := []Entry{
		{Term: 2, Index: 4, Data: make([]byte, 50)},
		{Term: 2, Index: 5, Type: EntryConfig, Data: conf},
		{Term: 2, Index: 6, Data: make([]byte, 50)},
		{Term: 2, Index: 7, Data: make([]byte, 50)},
		{Term: 2, Index: 8, Data: make([]byte, 50)},
	}
	var given []Entry
	var sizes []uint32
	for _, e := range full {
		sizes = append(sizes, uint32(len(e.Data)))
		if e.Index <= 6 && e.Type != EntryConfig {
			e.Data = nil
		}
		given = append(given, e)
	}
	return Recover{
		HardState: HardState{Term: 2, Commit: 7},
		Snapshot:  SnapshotMeta{Index: 3, Term: 1, Membership: voters},
		Entries:   given, Sizes: sizes, Applied: 6,
	}, full
}

// Entries the host applied while recovering are not applied again; the
// rest of the committed log is; the config entry among them still sets
// the membership.
func TestRecoverHostApplied(t *testing.T) {
	r, full := hostAppliedRecover()
	e := newTestEngine(t, "n1", "n1", "n2", "n3")
	as := e.Step(r)
	want := []Action{ApplyEntries{Entries: []Entry{full[3]}}}
	if d := cmp.Diff(want, as); d != "" {
		t.Fatalf("recover actions (-want +got):\n%s", d)
	}
	s := e.Status()
	got := []any{s.Commit, s.Applied, s.LastIndex, s.Membership.String()}
	wantS := []any{uint64(7), uint64(7), uint64(8), "voters=(n1 n2 n3) learners=(n4)"}
	if d := cmp.Diff(wantS, got); d != "" {
		t.Fatalf("status (-want +got):\n%s", d)
	}
	if e.log.dataFloor != 6 || e.log.sizeAt(4) != 50+entryOverhead || e.log.appliedBytes != 3*(50+entryOverhead)+uint64(len(full[1].Data))+entryOverhead /* 4..7 */ {
		t.Errorf("data floor %d, size of 4 %d, applied bytes %d: the host-applied entries are not weighed by Sizes",
			e.log.dataFloor, e.log.sizeAt(4), e.log.appliedBytes)
	}
	if e.log.cachedBytes != 2*(50+entryOverhead) {
		t.Errorf("cached bytes %d, want only entries 7 and 8", e.log.cachedBytes)
	}
	// The counters count the host's entries as committed and applied, as
	// they did when the engine applied them again.
	if c := e.Status().Counters; c.EntriesCommitted != 4 || c.EntriesApplied != 4 {
		t.Errorf("counters: %d committed, %d applied; want 4 and 4", c.EntriesCommitted, c.EntriesApplied)
	}
}

// A leader recovered that way asks its host to fill the entries it holds
// without data before sending them, and sizes its MsgApps by Sizes.
func TestRecoverHostAppliedFillsSends(t *testing.T) {
	r, _ := hostAppliedRecover()
	e, err := New(Config{ID: "n1", Peers: ids("n1 n2 n3"), DisablePreVote: true, Seed: 1, MaxAppendBytes: 3 * (50 + entryOverhead)})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(r)
	for i := 0; i < 100 && e.role != Candidate; i++ {
		e.Step(Tick{})
	}
	e.Step(Receive{Msg: Message{Type: MsgVoteResp, From: "n2", To: "n1", Term: e.term}})
	if e.role != Leader {
		t.Fatalf("not leader: %s", e.Status())
	}
	// n2 has the log up to 3 only.
	s := appTo(t, e.Step(Receive{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: e.term, Index: 3}}), "n2")
	if len(s.Msg.Entries) != 3 || s.Msg.Entries[0].Index != 4 {
		t.Fatalf("MsgApp to n2 carries %v, want entries 4..6 (MaxAppendBytes by Sizes)", s.Msg.Entries)
	}
	if s.FillThrough != 6 {
		t.Errorf("FillThrough = %d, want 6", s.FillThrough)
	}
}

// The applied bytes the host reports count toward the next snapshot.
func TestRecoverHostAppliedHintsSnapshot(t *testing.T) {
	r, _ := hostAppliedRecover()
	r.HardState.Commit, r.Entries, r.Sizes = 6, r.Entries[:3], r.Sizes[:3]
	e, err := New(Config{ID: "n1", Peers: ids("n1 n2 n3"), SnapshotMinBytes: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	as := e.Step(r)
	if d := cmp.Diff([]Action{SnapshotHint{Index: 6}}, as); d != "" {
		t.Fatalf("recover actions (-want +got):\n%s", d)
	}
}

// A host that says it applied beyond the commit index, or beyond the log
// Recover keeps, broke the contract: Recover panics and says why.
func TestRecoverHostAppliedBeyondLogPanics(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Recover)
	}{
		{"beyond commit", func(r *Recover) { r.Applied = 8 }},
		{"beyond a gap", func(r *Recover) {
			r.Entries = append(r.Entries[:1:1], r.Entries[2:]...)
			r.Sizes = append(r.Sizes[:1:1], r.Sizes[2:]...)
		}},
		{"sizes not per entry", func(r *Recover) { r.Sizes = r.Sizes[:2] }},
		{"config entry without its data", func(r *Recover) { r.Entries[1].Data = nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := hostAppliedRecover()
			c.edit(&r)
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "engine: Recover") {
					t.Fatalf("panic %q, want the engine's Recover message", msg)
				}
			}()
			newTestEngine(t, "n1", "n1", "n2", "n3").Step(r)
		})
	}
}
