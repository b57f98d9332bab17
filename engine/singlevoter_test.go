package engine

import (
	"strings"
	"testing"
)

// TestSingleVoterReelectionKeepsLogMatching: a single-voter cluster with a
// learner. The voter restarts and elects itself in one Step (no vote
// requests, so nothing persisted its new term before its MsgApp). The host
// may send that MsgApp before the PersistEntries before it is durable
// (Raft thesis §10.2.1) and crash before executing the rest of the Step.
// After the next restart the voter must not reuse the term: if it did, it
// would append a different entry at the same index and term as one the
// learner already holds, and the two state machines would diverge.
func TestSingleVoterReelectionKeepsLogMatching(t *testing.T) {
	env := newIEnv(t)
	env.out = &strings.Builder{}
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Log(env.out.String())
		}
	}()
	for _, cfg := range []Config{
		{ID: "n1", Peers: []NodeID{"n1"}, Seed: 1},
		{ID: "n2", Seed: 2},
	} {
		if err := env.addNode(cfg, true); err != nil {
			t.Fatal(err)
		}
	}
	env.campaign("n1")
	env.step("n1", LogPersisted{Index: 1, Term: 1})
	env.step("n1", ChangeMembership{ID: 1, Change: ConfChange{Op: ConfAddLearner, Node: "n2"}})
	env.step("n1", LogPersisted{Index: 2, Term: 1})
	env.stabilize(true)
	for range 3 {
		env.step("n1", Tick{})
		env.stabilize(true)
	}
	if got := env.nodes["n2"].e.Status().LastIndex; got != 2 {
		t.Fatalf("learner has last index %d, want 2", got)
	}

	// n1 restarts and elects itself at once.
	env.nodes["n1"].e = nil
	env.restart("n1")
	n1 := env.nodes["n1"]
	// Incarnation A: the host carries out every action except the entry
	// writes, which are still in the pipeline when it crashes (none was
	// reported with LogPersisted); MsgApps go out meanwhile.
	stepA := func(ev Event) {
		for _, a := range n1.e.Step(ev) {
			env.printf("n1 (writes in flight): %s", fmtAction(a))
			if _, ok := a.(PersistEntries); !ok {
				env.exec(n1, a)
			}
		}
	}
	for i := 0; i < 100 && n1.e.role != Leader; i++ {
		stepA(Tick{})
	}
	if n1.e.role != Leader {
		t.Fatal("n1 did not elect itself")
	}
	// The learner takes the no-op; its answer moves it to replicate, and
	// the proposal x reaches it too.
	deliverA := func() {
		for i := 0; i < 20 && len(env.msgs) > 0; i++ {
			m := env.msgs[0]
			env.msgs = env.msgs[1:]
			if m.To == "n1" {
				stepA(Receive{Msg: m})
			} else {
				env.deliver(m)
			}
		}
	}
	deliverA()
	stepA(Propose{ID: 2, Data: []byte("x")})
	deliverA()
	n1.e = nil
	if got := env.nodes["n2"].e.Status().LastIndex; got != 4 {
		t.Fatalf("learner has last index %d, want 4 (noop and x)", got)
	}

	// n1 restarts again, elects itself and proposes y.
	env.restart("n1")
	for i := 0; i < 100 && n1.e.role != Leader; i++ {
		env.step("n1", Tick{})
	}
	env.step("n1", Propose{ID: 3, Data: []byte("y")})
	last := n1.log[len(n1.log)-1]
	env.step("n1", LogPersisted{Index: last.Index, Term: last.Term})
	env.stabilize(true)
	for range 3 {
		env.step("n1", Tick{})
		env.stabilize(true)
	}
	l1, l2 := &n1.e.log, &env.nodes["n2"].e.log
	for i := l1.floor + 1; i <= min(l1.lastIndex(), l2.lastIndex()); i++ {
		e1, e2 := l1.entry(i), l2.entry(i)
		if e1.Term == e2.Term && string(e1.Data) != string(e2.Data) {
			t.Fatalf("log matching broken at index %d term %d: leader has %q, learner has %q", i, e1.Term, e1.Data, e2.Data)
		}
	}
	if a, b := appliedData(env.nodes["n1"].sm), appliedData(env.nodes["n2"].sm); len(a) != len(b) {
		t.Fatalf("state machines differ: leader %v, learner %v", a, b)
	}
}
