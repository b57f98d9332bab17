package engine

import (
	"strings"
	"testing"
)

// TestFollowerReadStaleAnswerAfterRestart is a regression test (found by
// TestPropertyClusterSafety): a follower numbered its read batches from 1 in
// every incarnation, so a leader's late answer to a batch sent before a
// crash matched the first batch sent after the restart, and the new read was
// served at an index older than entries committed before it started. Batch
// contexts now carry Config.Incarnation.
func TestFollowerReadStaleAnswerAfterRestart(t *testing.T) {
	env := newIEnv(t)
	env.out = &strings.Builder{}
	env.readFloor = map[uint64]uint64{}
	for _, id := range []NodeID{"n1", "n2", "n3"} {
		if err := env.addNode(Config{ID: id, Peers: []NodeID{"n1", "n2", "n3"}, Seed: uint64(len(env.ids) + 1)}, false); err != nil {
			t.Fatal(err)
		}
	}
	env.campaign("n1")
	env.stabilize(false)

	// n2 forwards a read; the leader's answer is held back in the network.
	env.readFloor[100] = env.nodes["n1"].e.log.commit
	env.step("n2", Read{ID: 100})
	var held []Message
	for i := 0; i < 100 && len(env.msgs) > 0; i++ {
		m := env.msgs[0]
		env.msgs = env.msgs[1:]
		if m.Type == MsgReadIndexResp && m.To == "n2" {
			held = append(held, m)
			continue
		}
		env.deliver(m)
	}
	if len(held) != 1 {
		t.Fatalf("held %d answers, want 1", len(held))
	}

	// n2 crashes; the cluster commits more entries meanwhile.
	env.nodes["n2"].e = nil
	env.step("n1", Propose{ID: 1, Data: []byte("x")})
	env.stabilize(false)

	// n2 restarts and learns the leader, then forwards a new read.
	env.restart("n2")
	env.step("n1", Tick{})
	env.stabilize(false)
	floor := env.nodes["n1"].e.log.commit
	env.readFloor[101] = floor
	env.step("n2", Read{ID: 101})

	// The stale answer arrives first: it must not serve read 101.
	env.deliver(held[0])
	env.stabilize(false)
	t.Log(env.out.String())
}

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
