package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

// stubEngine does nothing; its status is set by the test.
type stubEngine struct{ st engine.Status }

func (s *stubEngine) Step(engine.Event) []engine.Action { return nil }
func (s *stubEngine) Status() engine.Status             { return s.st }
func (s *stubEngine) Lease() engine.LeaseState          { return engine.LeaseState{} }

func stubWorld(t *testing.T) (*world, []*host) {
	t.Helper()
	w, err := newWorld(Options{Seed: 1, Nodes: 3, Steps: 1, NewEngine: func(cfg engine.Config) (Engine, error) {
		m := engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, nil)
		return &stubEngine{st: engine.Status{ID: cfg.ID, Membership: m}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return w, w.hosts[:3]
}

func put(term, index uint64, k, v string) engine.Entry {
	return engine.Entry{Term: term, Index: index, Data: putCommand(k, v)}
}

// TestCheckers feeds each checker a history that breaks its property and
// one that does not.
func TestCheckers(t *testing.T) {
	tests := []struct {
		name string
		run  func(w *world, h []*host)
		want string // property, "" for none
	}{
		{"two leaders in a term", func(w *world, h []*host) {
			w.execute(h[0], engine.RoleChanged{Role: engine.Leader, Term: 3, Leader: h[0].id})
			w.execute(h[1], engine.RoleChanged{Role: engine.Leader, Term: 3, Leader: h[1].id})
		}, "election safety"},
		{"leaders in two terms", func(w *world, h []*host) {
			w.execute(h[0], engine.RoleChanged{Role: engine.Leader, Term: 3, Leader: h[0].id})
			w.execute(h[1], engine.RoleChanged{Role: engine.Leader, Term: 4, Leader: h[1].id})
		}, ""},
		{"same index and term, other content", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "x")}})
			w.execute(h[1], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "y")}})
		}, "log matching"},
		{"same entry after other terms", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "x"), put(3, 2, "b", "z")}})
			w.execute(h[1], engine.PersistEntries{Entries: []engine.Entry{put(2, 1, "a", "y"), put(3, 2, "b", "z")}})
		}, "log matching"},
		{"matching logs", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "x"), put(3, 2, "b", "z")}})
			w.execute(h[1], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "x")}})
			w.execute(h[1], engine.PersistEntries{Entries: []engine.Entry{put(3, 2, "b", "z")}})
		}, ""},
		{"different entries applied at one index", func(w *world, h []*host) {
			for i, v := range []string{"x", "y"} {
				h[i].eng.(*stubEngine).st.Commit = 1
				w.execute(h[i], engine.ApplyEntries{Entries: []engine.Entry{put(1, 1, "a", v)}})
			}
		}, "state machine safety"},
		{"applied out of order", func(w *world, h []*host) {
			w.execute(h[0], engine.ApplyEntries{Entries: []engine.Entry{put(1, 2, "a", "x")}})
		}, "apply order"},
		{"leader without a committed entry", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "x")}})
			h[0].eng.(*stubEngine).st.Commit = 1
			w.chk.afterStep(w, h[0])
			w.execute(h[1], engine.RoleChanged{Role: engine.Leader, Term: 2, Leader: h[1].id})
		}, "leader completeness"},
		{"late leader of an older term without a newer committed entry", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{put(3, 1, "a", "x")}})
			h[0].eng.(*stubEngine).st.Term = 3
			h[0].eng.(*stubEngine).st.Commit = 1
			w.chk.afterStep(w, h[0])
			w.execute(h[1], engine.RoleChanged{Role: engine.Leader, Term: 2, Leader: h[1].id})
		}, ""},
		{"commit goes back", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{put(1, 1, "a", "x")}})
			h[0].eng.(*stubEngine).st.Commit = 1
			w.chk.afterStep(w, h[0])
			h[0].eng.(*stubEngine).st.Commit = 0
			w.chk.afterStep(w, h[0])
		}, "commit monotonic"},
		{"term goes back", func(w *world, h []*host) {
			h[0].eng.(*stubEngine).st.Term = 5
			w.chk.afterStep(w, h[0])
			h[0].eng.(*stubEngine).st.Term = 4
			w.chk.afterStep(w, h[0])
		}, "term monotonic"},
		{"snapshot above commit", func(w *world, h []*host) {
			h[0].eng.(*stubEngine).st.SnapshotIndex = 3
			w.chk.afterStep(w, h[0])
		}, "snapshot floor"},
		{"two uncommitted config changes", func(w *world, h []*host) {
			m := engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})
			c1 := engine.Entry{Term: 1, Index: 1, Type: engine.EntryConfig, Data: engine.MarshalConfig(engine.ConfChange{Op: engine.ConfAddLearner, Node: "n4"}, m)}
			c2 := engine.Entry{Term: 1, Index: 2, Type: engine.EntryConfig, Data: engine.MarshalConfig(engine.ConfChange{Op: engine.ConfRemove, Node: "n4"}, m)}
			w.execute(h[0], engine.RoleChanged{Role: engine.Leader, Term: 1, Leader: h[0].id})
			h[0].eng.(*stubEngine).st.Role = engine.Leader
			w.execute(h[0], engine.PersistEntries{Entries: []engine.Entry{c1, c2}})
			w.chk.endOfTick(w)
		}, "one config change"},
		{"stale read", func(w *world, h []*host) {
			w.cl.valueIndex["v1"], w.cl.valueIndex["v2"] = 1, 2
			w.cl.hist["a"].add(10, 2) // the write at 2 acknowledged at seq 10
			h[0].sm.kv["a"] = "v1"
			w.cl.serve(w, h[0], &readOp{key: "a", start: 11})
		}, "linearizability"},
		{"concurrent read may see the older write", func(w *world, h []*host) {
			w.cl.valueIndex["v1"], w.cl.valueIndex["v2"] = 1, 2
			w.cl.hist["a"].add(10, 2)
			h[0].sm.kv["a"] = "v1"
			w.cl.serve(w, h[0], &readOp{key: "a", start: 9})
		}, ""},
		{"failed proposal applied", func(w *world, h []*host) {
			op := &writeOp{id: 7, key: "a", val: "v7"}
			h[0].writes[7] = op
			w.execute(h[0], engine.ProposalRejected{ID: 7, Err: engine.ErrNotLeader})
			h[1].eng.(*stubEngine).st.Commit = 1
			w.execute(h[1], engine.ApplyEntries{Entries: []engine.Entry{put(1, 1, "a", "v7")}})
		}, "linearizability"},
		{"result given to the wrong proposal", func(w *world, h []*host) {
			op := &writeOp{id: 7, key: "a", val: "v7"}
			h[0].writes[7] = op
			w.execute(h[0], engine.ProposalAccepted{ID: 7, Term: 1, Index: 1})
			h[0].eng.(*stubEngine).st.Commit = 1
			w.execute(h[0], engine.ApplyEntries{Entries: []engine.Entry{put(1, 1, "a", "v8")}})
		}, "linearizability"},
		{"non-voter leader", func(w *world, h []*host) {
			w.execute(w.hosts[3], engine.RoleChanged{Role: engine.Leader, Term: 3, Leader: w.hosts[3].id})
		}, "election safety"},
		{"vote sent before it is durable", func(w *world, h []*host) {
			w.execute(h[0], engine.PersistHardState{HardState: engine.HardState{Term: 2, Vote: "n2"}})
			w.transmit(h[0], heldSend{msg: engine.Message{Type: engine.MsgVoteResp, From: "n1", To: "n2", Term: 2}})
		}, "persist before send"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h := stubWorld(t)
			tt.run(w, h)
			got := ""
			if w.fail != nil {
				got = w.fail.Property
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("property (-want +got):\n%s\n%v", diff, w.fail)
			}
		})
	}
}
