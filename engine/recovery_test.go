package engine

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestRecoverDropsStaleTail: entries whose terms go backwards after the
// snapshot are leftovers, not log; Recover drops them and tells the host.
func TestRecoverDropsStaleTail(t *testing.T) {
	e, err := New(Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}})
	if err != nil {
		t.Fatal(err)
	}
	snap := SnapshotMeta{Index: 10, Term: 5, Membership: NewMembership([]NodeID{"n1", "n2", "n3"}, nil)}
	acts := e.Step(Recover{HardState: HardState{Term: 5}, Snapshot: snap, Entries: []Entry{
		{Term: 5, Index: 11}, {Term: 3, Index: 12}, {Term: 3, Index: 13},
	}})
	found := false
	for _, a := range acts {
		if tr, ok := a.(TruncateLog); ok && tr.Index == 12 {
			found = true
		}
	}
	if !found {
		t.Fatalf("actions %v: want TruncateLog{12}", acts)
	}
	if st := e.Status(); st.LastIndex != 11 || st.LastTerm != 5 {
		t.Fatalf("recovered log ends at %d/%d, want 5/11", st.LastTerm, st.LastIndex)
	}
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

// TestPropertyRecoveryIdempotent checks that two engines recovered from the
// same durable state have equal Status and emit equal actions for the same
// events.
func TestPropertyRecoveryIdempotent(t *testing.T) {
	setPropertyChecks(t)
	rapid.Check(t, func(rt *rapid.T) {
		opt := simOptions{preVote: rapid.Bool().Draw(rt, "prevote"), steps: rapid.IntRange(20, 150).Draw(rt, "steps")}
		env := newSimEnv(t, rt.Fatalf, opt)
		runSim(rapidChooser{rt}, env, opt)
		id := rapid.SampledFrom(env.ids).Draw(rt, "node")
		n := env.nodes[id]
		rec := Recover{HardState: n.hs, Snapshot: n.snap, Entries: slices.Clone(n.log)}
		a, _ := New(n.cfg)
		b, _ := New(n.cfg)
		aa, ba := a.Step(rec), b.Step(Recover{HardState: rec.HardState, Snapshot: rec.Snapshot, Entries: slices.Clone(rec.Entries)})
		if d := cmp.Diff(aa, ba); d != "" {
			rt.Fatalf("recover actions differ (-a +b):\n%s", d)
		}
		if d := cmp.Diff(a.Status(), b.Status()); d != "" {
			rt.Fatalf("recovered status differs (-a +b):\n%s", d)
		}
		// The same next events yield the same actions.
		for i := 0; i < 40; i++ {
			var ev Event = Tick{}
			if len(env.msgs) > 0 && rapid.Bool().Draw(rt, "recv") {
				m := env.msgs[rapid.IntRange(0, len(env.msgs)-1).Draw(rt, "msg")]
				m.To = id
				ev = Receive{Msg: m}
			}
			if d := cmp.Diff(a.Step(ev), b.Step(ev)); d != "" {
				rt.Fatalf("actions after recovery differ at event %d (-a +b):\n%s", i, d)
			}
		}
		if d := cmp.Diff(a.Status(), b.Status()); d != "" {
			rt.Fatalf("status differs after the same events (-a +b):\n%s", d)
		}
	})
}
