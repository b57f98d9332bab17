package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A higher-term answer (not a request) does not release a follower from
// its promise to a live leader: it learns the term from the next leader
// (the lease relies on that). A leader that gets one learns it is stale
// and steps down (Raft §5.1).
func TestHigherTermAnswers(t *testing.T) {
	answers := []Message{
		{Type: MsgAppResp, From: "n3", To: "n2", Term: 2, Reject: true},
		{Type: MsgVoteResp, From: "n3", To: "n2", Term: 2, Reject: true},
	}
	f := newFollower(t, Recover{})
	f.Step(Receive{Msg: Message{Type: MsgHeartbeat, From: "n1", To: "n2", Term: 1}})
	for _, m := range answers {
		if got := f.Step(Receive{Msg: m}); len(got) != 0 {
			t.Errorf("follower in lease on %s: %v, want nothing", m, got)
		}
	}
	if st := f.Status(); st.Term != 1 || st.Leader != "n1" {
		t.Errorf("follower at term %d leader %s, want term 1 leader n1", st.Term, st.Leader)
	}

	l := newLeader(t, nil)
	got := l.Step(Receive{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 2, Reject: true}})
	want := []Action{
		RoleChanged{Role: Follower, Term: 2},
		PersistHardState{HardState: HardState{Term: 2}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("leader on a higher-term answer (-want +got):\n%s", d)
	}
}

// With leases on, a voter restarted from durable state keeps refusing
// disruptive votes for ElectionTicks ticks of its new life (it may have
// promised a leader just before it went down); from then on it votes.
func TestRestartedVoterRefusesVotesForElectionTicks(t *testing.T) {
	e, err := New(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTicks: 10, LeaseTicks: 5, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{HardState: HardState{Term: 3}})
	vote := Message{Type: MsgVote, From: "n3", To: "n2", Term: 4}
	for range 9 {
		e.Step(Tick{})
	}
	if got := e.Step(Receive{Msg: vote}); len(got) != 0 {
		t.Fatalf("vote 9 ticks after a restart: %v, want it ignored", got)
	}
	e.Step(Tick{})
	granted := false
	for _, a := range e.Step(Receive{Msg: vote}) {
		if s, ok := a.(Send); ok && s.Msg.Type == MsgVoteResp && !s.Msg.Reject && s.Msg.Term == 4 {
			granted = true
		}
	}
	if !granted {
		t.Fatal("vote 10 ticks after a restart (ElectionTicks 10) not granted")
	}
}

// A pre-vote is granted for a term after ours; one for our own term (from
// a node a term behind) is a request to disrupt a term that has a leader
// and our vote, and is refused (Raft §9.6).
func TestPreVoteForCurrentTermRefused(t *testing.T) {
	e, err := New(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, DisableCheckQuorum: true, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{HardState: HardState{Term: 5, Vote: "n1"}})
	e.Step(Receive{Msg: Message{Type: MsgHeartbeat, From: "n1", To: "n2", Term: 5}})
	for _, tc := range []struct {
		term uint64
		want Message
	}{
		{5, Message{Type: MsgPreVoteResp, From: "n2", To: "n3", Term: 5, Reject: true}},
		{6, Message{Type: MsgPreVoteResp, From: "n2", To: "n3", Term: 6}},
	} {
		got := e.Step(Receive{Msg: Message{Type: MsgPreVote, From: "n3", To: "n2", Term: tc.term}})
		if d := cmp.Diff([]Action{Send{Msg: tc.want}}, got); d != "" {
			t.Errorf("pre-vote for term %d (-want +got):\n%s", tc.term, d)
		}
	}
}

// Recover finds the newest config entry in the log: the change is pending
// until the commit index reaches it, and not after.
func TestRecoverPendingConfig(t *testing.T) {
	next := NewMembership([]NodeID{"n1", "n2", "n3"}, []NodeID{"n4"})
	es := []Entry{
		{Term: 1, Index: 1, Type: EntryNoop},
		{Term: 1, Index: 2, Type: EntryConfig, Data: MarshalConfig(ConfChange{Op: ConfAddLearner, Node: "n4"}, next)},
		{Term: 1, Index: 3, Data: []byte("x")},
	}
	for _, tc := range []struct {
		commit  uint64
		pending bool
	}{{1, true}, {2, false}, {3, false}} {
		e := newFollower(t, Recover{HardState: HardState{Term: 1, Commit: tc.commit}, Entries: es})
		st := e.Status()
		if st.PendingConfig != tc.pending || !st.Membership.Equal(next) {
			t.Errorf("commit %d: pending %v membership %s, want pending %v membership %s", tc.commit, st.PendingConfig, st.Membership, tc.pending, next)
		}
	}
}

// A leader that steps down in its own term (check-quorum: it heard from
// no majority for an election timeout) fails the reads it queued.
func TestCheckQuorumStepDownFailsReads(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect("n1")
	c.tick()
	c.step("n1", Read{ID: 1})
	c.drop = func(Message) bool { return true }
	n1 := c.nodes["n1"].e
	for i := 0; i < 20 && n1.role == Leader; i++ {
		c.tick("n1")
	}
	if n1.role != Follower || n1.term != 1 {
		t.Fatalf("n1 is %s in term %d, want a follower in term 1", n1.role, n1.term)
	}
	if err := c.nodes["n1"].failed[1]; err != ErrSteppedDown {
		t.Fatalf("read 1: %v, want ErrSteppedDown", err)
	}
	if got := n1.Status().PendingReads; got != 0 {
		t.Fatalf("PendingReads = %d, want 0", got)
	}
}
