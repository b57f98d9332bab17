package engine

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tally is what the host saw of id, for checkCountersMatchActions.
func (env *iEnv) tally(id NodeID) *Counters {
	if env.seen[id] == nil {
		env.seen[id] = &Counters{}
	}
	return env.seen[id]
}

// tallyEvent counts an event the host steps on id (before the Step).
func (env *iEnv) tallyEvent(id NodeID, ev Event) {
	seen := env.tally(id)
	switch ev := ev.(type) {
	case Read:
		seen.ReadsStarted++
	case Receive:
		// A MsgApp of the current or a newer term reaches the follower's
		// handler; an older one is answered without it. A pre-vote of an
		// older term is refused without counting.
		e := env.nodes[id].e
		if ev.Msg.Type == MsgApp && ev.Msg.Term >= e.term {
			seen.AppendsReceived++
		}
		env.lowerPreVote = ev.Msg.Type == MsgPreVote && ev.Msg.Term < e.term
	}
}

// tallyAction counts an action the host carries out for id.
func (env *iEnv) tallyAction(id NodeID, a Action) {
	seen := env.tally(id)
	switch a := a.(type) {
	case Send:
		switch m := a.Msg; {
		case m.Type == MsgApp:
			seen.AppendsSent++
		case m.Type == MsgAppResp && m.Reject && m.Index > 0:
			seen.AppendsRejected++
		case m.Type == MsgVoteResp && m.Reject:
			seen.VotesDenied++
		case m.Type == MsgVoteResp:
			seen.VotesGranted++
		case m.Type == MsgPreVoteResp && m.Reject && !env.lowerPreVote:
			seen.PreVotesDenied++
		case m.Type == MsgPreVoteResp && !m.Reject:
			seen.PreVotesGranted++
		}
	case PersistHardState:
		// Commits counted by the engine; a snapshot install moves the
		// commit index without committing entries.
		if hc := a.HardState.Commit; hc > env.commitSeen[id] {
			seen.EntriesCommitted += hc - env.commitSeen[id]
			env.commitSeen[id] = hc
		}
	case PersistEntries:
		seen.EntriesAppended += uint64(len(a.Entries))
	case ApplyEntries:
		seen.EntriesApplied += uint64(len(a.Entries))
	case ProposalRejected:
		seen.ProposalsRejected++
	case ReadReady:
		seen.ReadsCompleted++
	case ReadFailed:
		seen.ReadsFailed++
	case RestoreSnapshot:
		seen.SnapshotsInstalled++
		env.commitSeen[id] = max(env.commitSeen[id], a.Meta.Index)
	case RoleChanged:
		switch a.Role {
		case Leader:
			seen.ElectionsWon++
		case Candidate:
			seen.ElectionsStarted++
		}
	}
}

// checkCountersMatchActions compares each node's Status counters with what
// its host saw (iEnv.seen): reads stepped and answered, proposals
// rejected, MsgApps sent, received and rejected, votes and pre-votes
// answered, entries appended, committed and applied, snapshots installed,
// elections started and won. extra adds what the host cannot see (votes
// ignored without an answer, pre-vote campaigns, transfers, snapshots
// sent), per node.
func checkCountersMatchActions(t *testing.T, c *iEnv, extra map[NodeID]Counters) {
	t.Helper()
	for _, id := range c.ids {
		got := c.nodes[id].e.Status().Counters
		want := *c.tally(id)
		x := extra[id]
		want.VotesDenied += x.VotesDenied
		want.PreVotesStarted = x.PreVotesStarted
		want.TransfersStarted = x.TransfersStarted
		want.SnapshotsSent = x.SnapshotsSent
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: counters differ from the actions seen (-seen +engine):\n%s", id, d)
		}
	}
}

// readOutcome is how a read ended on one node.
type readOutcome struct {
	Index uint64 // ReadReady's index
	Err   error  // ReadFailed's error
}

func readOutcomes(c *iEnv, id NodeID) map[uint64]readOutcome {
	n := c.nodes[id]
	out := map[uint64]readOutcome{}
	for rid, idx := range n.ready {
		out[rid] = readOutcome{Index: idx}
	}
	for rid, err := range n.failed {
		out[rid] = readOutcome{Err: err}
	}
	return out
}

var cmpErrIs = cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) && errors.Is(b, a) })

// A story through every way a read ends, on the leader and on followers:
// each ends exactly once, with the expected result, and the counters agree.
func TestCountersReadPaths(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxPendingReads = 1; cfg.DisableCheckQuorum = true })
	// 1: no leader known yet.
	c.step("n2", Read{ID: 1})
	c.elect("n1")
	c.tick()
	commit := c.nodes["n1"].e.log.commit

	// 2 is confirmed by a heartbeat round; 3 finds the pending-read limit
	// reached; n2's 4 reaches the leader while 2 still fills its queue
	// and is refused.
	c.step("n1", Read{ID: 2})
	c.step("n1", Read{ID: 3})
	c.step("n2", Read{ID: 4})
	c.stabilize(true)

	// 5: the leader hears from no one for 2*ElectionTicks ticks; the read
	// times out on the tick after that.
	c.step("n1", Read{ID: 5})
	c.drop = func(m Message) bool { return m.To == "n1" }
	for i := 1; i <= 2*10; i++ {
		c.tick("n1")
	}
	if _, done := readOutcomes(c, "n1")[5]; done {
		t.Fatal("read 5 ended before 2*ElectionTicks ticks")
	}
	c.tick("n1")

	// 6 is queued when n3 takes over (n1 cut off meanwhile): n1 steps down.
	c.step("n1", Read{ID: 6})
	c.drop = func(m Message) bool { return m.To == "n1" || m.From == "n1" }
	c.msgs = nil
	c.elect("n3")
	c.drop = nil
	c.tick("n3")

	// 7: n2 forwards to n3, whose answer never comes; n1 takes over.
	c.step("n2", Read{ID: 7})
	c.drop = func(m Message) bool { return m.To == "n3" || m.From == "n3" }
	c.stabilize(true)
	c.elect("n1")
	c.drop = nil
	c.tick()

	// 8: n2 forwards to n1, which never answers: after ElectionTicks
	// ticks n2 gives up (the tick before, it still waits).
	c.step("n2", Read{ID: 8})
	c.msgs = nil
	for range 9 {
		c.step("n2", Tick{})
	}
	if _, done := readOutcomes(c, "n2")[8]; done {
		t.Fatal("read 8 ended before ElectionTicks ticks")
	}
	c.step("n2", Tick{})
	c.msgs = nil

	want := map[NodeID]map[uint64]readOutcome{
		"n1": {2: {Index: commit}, 3: {Err: ErrBusy}, 5: {Err: ErrReadTimeout}, 6: {Err: ErrSteppedDown}},
		"n2": {1: {Err: ErrNoLeader}, 4: {Err: ErrNotLeader}, 7: {Err: ErrSteppedDown}, 8: {Err: ErrReadTimeout}},
	}
	for id, w := range want {
		if d := cmp.Diff(w, readOutcomes(c, id), cmpErrIs); d != "" {
			t.Errorf("%s reads (-want +got):\n%s", id, d)
		}
	}
	st := c.nodes["n2"].e.Status().Counters
	if st.ReadsStarted != 4 || st.ReadsFailed != 4 || st.ReadsCompleted != 0 {
		t.Errorf("n2 read counters = %d started, %d failed, %d completed; want 4, 4, 0", st.ReadsStarted, st.ReadsFailed, st.ReadsCompleted)
	}
	checkCountersMatchActions(t, c, map[NodeID]Counters{
		"n1": {PreVotesStarted: 2}, "n2": {PreVotesStarted: 1}, "n3": {PreVotesStarted: 1},
	})
}

// Reads that succeed: a read-index read on the leader and a follower's
// read forwarded to it. A lease read is the host's (Engine.Lease) and
// counts nothing.
func TestCountersReadsCompleted(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.LeaseTicks = 5 })
	c.elect("n1")
	c.tick()
	commit := c.nodes["n1"].e.log.commit
	c.step("n1", Read{ID: 1})
	c.step("n2", Read{ID: 2})
	c.stabilize(true)
	c.tick()
	if l := c.nodes["n1"].e.Lease(); !l.Held || l.Commit != commit {
		t.Errorf("lease %+v, want held at commit %d", l, commit)
	}
	if d := cmp.Diff(map[uint64]readOutcome{1: {Index: commit}}, readOutcomes(c, "n1"), cmpErrIs); d != "" {
		t.Errorf("n1 reads (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[uint64]readOutcome{2: {Index: commit}}, readOutcomes(c, "n2"), cmpErrIs); d != "" {
		t.Errorf("n2 reads (-want +got):\n%s", d)
	}
	checkCountersMatchActions(t, c, map[NodeID]Counters{"n1": {PreVotesStarted: 1}})
}

// A story with several commits, refused votes, a leadership transfer and
// a snapshot sent to a follower that fell behind: every counter agrees
// with the actions the hosts saw.
func TestCountersClusterStory(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.CompactionKeep = 1 })
	c.elect("n1")
	c.step("n1", Propose{ID: 1, Data: []byte("a")})
	c.stabilize(true)
	c.step("n1", ProposeBatch{Proposals: []Proposal{{ID: 2, Data: []byte("b")}, {ID: 3, Data: []byte("c")}}})
	c.stabilize(true)
	c.tick()
	term := c.nodes["n1"].e.term

	// n3 campaigns in n1's term (a split vote): n2 voted for n1 and says
	// no. Its pre-vote for the next term (duplicated by the network) and
	// its vote in the next term reach n2 within n1's lease: refused, the
	// vote without an answer.
	n2 := c.nodes["n2"].e
	for _, tc := range []struct {
		m    Message
		want []Action
	}{
		{Message{Type: MsgVote, From: "n3", To: "n2", Term: term, LastIndex: 9, LastTerm: term},
			[]Action{Send{Msg: Message{Type: MsgVoteResp, From: "n2", To: "n3", Term: term, Reject: true}}}},
		{Message{Type: MsgPreVote, From: "n3", To: "n2", Term: term + 1, LastIndex: 9, LastTerm: term},
			[]Action{Send{Msg: Message{Type: MsgPreVoteResp, From: "n2", To: "n3", Term: term, Reject: true}}}},
		{Message{Type: MsgPreVote, From: "n3", To: "n2", Term: term + 1, LastIndex: 9, LastTerm: term},
			[]Action{Send{Msg: Message{Type: MsgPreVoteResp, From: "n2", To: "n3", Term: term, Reject: true}}}},
		{Message{Type: MsgVote, From: "n3", To: "n2", Term: term + 1, LastIndex: 9, LastTerm: term}, nil},
	} {
		got := n2.Step(Receive{Msg: tc.m})
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("n2 receives %s (-want +got):\n%s", tc.m, d)
		}
		c.run("n2", got)
	}
	c.msgs = nil
	// A membership change asked of a follower is refused.
	c.step("n2", ChangeMembership{ID: 9, Change: ConfChange{Op: ConfAddLearner, Node: "n4"}})
	if err := c.nodes["n2"].failed[9]; err != ErrNotLeader {
		t.Errorf("change on a follower: %v, want ErrNotLeader", err)
	}

	// Leadership moves to n2.
	c.step("n1", TransferLeadership{To: "n2"})
	c.stabilize(true)
	c.tick()
	if n2.role != Leader {
		t.Fatalf("n2 is %s after the transfer, want leader", n2.role)
	}

	// n3 misses three entries that n2 then compacts away: it gets the
	// snapshot.
	c.drop = func(m Message) bool { return m.To == "n3" }
	for i := uint64(4); i <= 6; i++ {
		c.step("n2", Propose{ID: i, Data: []byte{byte('a' + i)}})
		c.stabilize(true)
	}
	c.tick("n1", "n2")
	st := n2.Status()
	c.takeSnapshot("n2", st.Applied, false)
	c.drop = nil
	c.tick()
	c.tick()
	if got := c.nodes["n3"].e.Status(); got.Commit != st.Commit || got.SnapshotIndex != st.Applied {
		t.Fatalf("n3 at commit %d snapshot %d, want %d and %d", got.Commit, got.SnapshotIndex, st.Commit, st.Applied)
	}
	// n1 and n2 committed every entry; n3 skipped those the snapshot
	// covered (checked below against its hard states).
	for _, id := range []NodeID{"n1", "n2"} {
		if got := c.nodes[id].e.Status().Counters.EntriesCommitted; got != st.Commit {
			t.Errorf("%s EntriesCommitted = %d, want %d", id, got, st.Commit)
		}
	}
	checkCountersMatchActions(t, c, map[NodeID]Counters{
		"n1": {PreVotesStarted: 1, TransfersStarted: 1},
		"n2": {VotesDenied: 1, SnapshotsSent: 1},
	})
}

// The engine's counters count what happened, exactly, in a small story:
// n1 campaigns with pre-vote and wins; one proposal is committed; a
// follower rejects a mismatched append; a proposal to a follower is
// rejected.
func TestCountersCountExactly(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.elect("n1")
	c.step("n1", Propose{ID: 1, Data: []byte("a")})
	c.stabilize(true)
	c.tick()
	c.step("n2", Propose{ID: 2, Data: []byte("b")})
	// A forged append with a mismatched previous entry.
	c.step("n3", Receive{Msg: Message{Type: MsgApp, From: "n1", To: "n3", Term: c.nodes["n1"].e.term, PrevIndex: 99, PrevTerm: 9}})
	c.msgs = nil

	n1 := c.nodes["n1"].e.Status().Counters
	if n1.PreVotesStarted != 1 || n1.ElectionsStarted != 1 || n1.ElectionsWon != 1 {
		t.Errorf("n1 election counters = %+v, want 1 pre-vote, 1 election, 1 win", n1)
	}
	if n1.EntriesAppended != 2 || n1.EntriesCommitted != 2 || n1.EntriesApplied != 2 {
		t.Errorf("n1 entry counters = %+v, want 2 appended/committed/applied (no-op and a)", n1)
	}
	n2 := c.nodes["n2"].e.Status().Counters
	if n2.PreVotesGranted != 1 || n2.VotesGranted != 1 || n2.ProposalsRejected != 1 {
		t.Errorf("n2 counters = %+v, want 1 pre-vote and 1 vote granted, 1 proposal rejected", n2)
	}
	if n2.AppendsReceived == 0 || n2.AppendsRejected != 0 {
		t.Errorf("n2 append counters = %+v", n2)
	}
	n3 := c.nodes["n3"].e.Status().Counters
	if n3.AppendsRejected != 1 {
		t.Errorf("n3 AppendsRejected = %d, want 1", n3.AppendsRejected)
	}
}
