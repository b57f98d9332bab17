package engine

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// followerState returns the leader's view of one follower.
func followerState(t *testing.T, leader *Engine, id NodeID) FollowerStatus {
	t.Helper()
	for _, f := range leader.Status().Followers {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("%s has no progress for %s", leader.id, id)
	return FollowerStatus{}
}

// Acknowledgements that arrive late or twice while a follower is probed
// (Raft §5.3 with a reordering, duplicating network): one below the known
// match changes nothing; one equal to the match tells the leader where the
// follower stands, so it replicates from there at once.
func TestProbeLateAndDuplicateAcks(t *testing.T) {
	c := newCluster(t, 3, nil)
	var acks []Message // n2's acknowledgements, in order
	c.drop = func(m Message) bool {
		if m.Type == MsgAppResp && m.From == "n2" && !m.Reject {
			acks = append(acks, m)
		}
		return false
	}
	c.elect("n1")
	c.step("n1", Propose{ID: 1, Data: []byte("a")})
	c.stabilize(true)
	c.tick()
	n1 := c.nodes["n1"].e
	if f := followerState(t, n1, "n2"); f.State != Replicate || f.Match != 2 || len(acks) < 2 {
		t.Fatalf("n2 is %+v with %d acks, want replicate at match 2", f, len(acks))
	}
	ack1, ack2 := acks[0], acks[len(acks)-1]
	if ack1.Index != 1 || ack2.Index != 2 {
		t.Fatalf("acks %v, want the first for 1 and the last for 2", acks)
	}

	// x and y go out as two pipelined MsgApps; n2 gets the second first
	// and rejects it.
	c.drop = func(m Message) bool { return m.To == "n3" }
	c.step("n1", Propose{ID: 2, Data: []byte("x")})
	c.step("n1", Propose{ID: 3, Data: []byte("y")})
	var apps []Message
	for _, m := range c.msgs {
		if m.Type == MsgApp && m.To == "n2" {
			apps = append(apps, m)
		}
	}
	c.msgs = nil
	if len(apps) != 2 {
		t.Fatalf("MsgApps to n2: %v, want two", apps)
	}
	c.step("n2", Receive{Msg: apps[1]})
	if len(c.msgs) != 1 || !c.msgs[0].Reject {
		t.Fatalf("n2 answers %v, want one rejection", c.msgs)
	}
	rej := c.msgs[0]
	c.msgs = nil
	probe := Message{Type: MsgApp, From: "n1", To: "n2", Term: n1.term, PrevIndex: 2, PrevTerm: n1.term,
		Entries: n1.log.entries.copyRange(2, 4), Commit: 2}
	if d := cmp.Diff([]Action{Send{Msg: probe}}, n1.Step(Receive{Msg: rej})); d != "" {
		t.Fatalf("leader on the rejection (-want +got):\n%s", d)
	}
	if f := followerState(t, n1, "n2"); f.State != Probe || f.Match != 2 {
		t.Fatalf("n2 is %+v after the rejection, want probe at match 2", f)
	}

	// The late acknowledgement of 1 is old news.
	if got := n1.Step(Receive{Msg: ack1}); len(got) != 0 {
		t.Errorf("leader on a late ack below the match: %v, want nothing", got)
	}
	if f := followerState(t, n1, "n2"); f.State != Probe || f.Match != 2 || f.Next != 3 {
		t.Errorf("n2 is %+v after a late ack, want probe at match 2 next 3", f)
	}
	// The duplicate acknowledgement of 2 confirms the match: replicate,
	// sending what follows it.
	if d := cmp.Diff([]Action{Send{Msg: probe}}, n1.Step(Receive{Msg: ack2})); d != "" {
		t.Errorf("leader on a duplicate ack of the match (-want +got):\n%s", d)
	}
	if f := followerState(t, n1, "n2"); f.State != Replicate || f.Match != 2 || f.Next != 5 || f.Inflight != 1 {
		t.Errorf("n2 is %+v after the duplicate ack, want replicate at match 2 next 5 with 1 in flight", f)
	}
}

// A proposal larger than MaxAppendBytes goes out one MsgApp at a time as
// acknowledgements come back; any acknowledgement lets the leader send
// more, even a duplicate that does not advance the match.
func TestAnyAckSendsWhatTheByteLimitHeldBack(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxAppendBytes = 100 })
	var ack Message
	c.drop = func(m Message) bool {
		if m.Type == MsgAppResp && m.From == "n2" && !m.Reject {
			ack = m
		}
		return false
	}
	c.elect("n1")
	c.tick()
	n1 := c.nodes["n1"].e
	if ack.Index != 1 {
		t.Fatalf("n2's last ack %v, want index 1", ack)
	}
	big := make([]byte, 100-entryOverhead)
	c.drop = nil
	got := n1.Step(ProposeBatch{Proposals: []Proposal{{ID: 1, Data: big}, {ID: 2, Data: big}}})
	var toN2 []Message
	for _, a := range got {
		if s, ok := a.(Send); ok && s.Msg.To == "n2" {
			toN2 = append(toN2, s.Msg)
		}
	}
	if len(toN2) != 1 || len(toN2[0].Entries) != 1 || toN2[0].Entries[0].Index != 2 {
		t.Fatalf("MsgApps to n2 on the proposal: %v, want one carrying entry 2", toN2)
	}
	want := []Action{Send{Msg: Message{Type: MsgApp, From: "n1", To: "n2", Term: n1.term, PrevIndex: 2, PrevTerm: n1.term,
		Entries: n1.log.entries.copyRange(2, 3), Commit: 1}}}
	if d := cmp.Diff(want, n1.Step(Receive{Msg: ack})); d != "" {
		t.Errorf("leader on a duplicate ack (-want +got):\n%s", d)
	}
}

// newLeader returns n1 elected leader of n1, n2, n3 in term 1 (pre-vote
// off), its first MsgApps (carrying the no-op) not yet answered.
func newLeader(t *testing.T, tweak func(*Config)) *Engine {
	t.Helper()
	cfg := Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}, DisablePreVote: true, Seed: 1}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{})
	for i := 0; i < 100 && e.role != Candidate; i++ {
		e.Step(Tick{})
	}
	e.Step(Receive{Msg: Message{Type: MsgVoteResp, From: "n2", To: "n1", Term: e.term}})
	if e.role != Leader || e.term != 1 {
		t.Fatalf("not leader in term 1: %s", e.Status())
	}
	return e
}

// A rejection with no position (Index and HintIndex zero) is what a node
// of a newer term answers to an old leader's MsgApp: it says nothing about
// the follower's log, and the leader's probe stays as it is.
func TestRejectionWithoutPositionIgnored(t *testing.T) {
	e := newLeader(t, nil)
	if got := e.Step(Receive{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 1, Reject: true}}); len(got) != 0 {
		t.Errorf("leader on a rejection without position: %v, want nothing", got)
	}
	if f := followerState(t, e, "n2"); f.State != Probe || f.Next != 1 {
		t.Errorf("n2 is %+v, want probe at next 1", f)
	}
}

// A learner with an empty log joins after the leader compacted its log
// (Raft §7): its rejection of the first probe says it has nothing (hint
// 0/0), so the leader goes straight to the snapshot instead of probing at
// its log floor.
func TestEmptyLearnerAfterCompactionGetsSnapshot(t *testing.T) {
	e, err := New(Config{ID: "n1", Peers: []NodeID{"n1"}, CompactionKeep: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{})
	for i := 0; i < 100 && e.role != Leader; i++ {
		e.Step(Tick{})
	}
	e.Step(LogPersisted{Index: 1, Term: 1})
	for i := uint64(1); i <= 3; i++ {
		e.Step(Propose{ID: i, Data: []byte{byte(i)}})
		e.Step(LogPersisted{Index: i + 1, Term: 1})
	}
	e.Step(SnapshotTaken{Meta: SnapshotMeta{Index: 4, Term: 1}})
	if st := e.Status(); st.Commit != 4 || st.FirstIndex != 4 {
		t.Fatalf("leader at commit %d first index %d, want 4 and 4", st.Commit, st.FirstIndex)
	}
	var probe Message
	for _, a := range e.Step(ChangeMembership{ID: 9, Change: ConfChange{Op: ConfAddLearner, Node: "n2"}}) {
		if s, ok := a.(Send); ok && s.Msg.To == "n2" {
			probe = s.Msg
		}
	}
	if probe.Type != MsgApp || probe.PrevIndex != 5 {
		t.Fatalf("first message to the learner %v, want a MsgApp probing after 5", probe)
	}
	// The learner's answer, as its engine gives it.
	n2, err := New(Config{ID: "n2", Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	n2.Step(Recover{})
	var rej Message
	for _, a := range n2.Step(Receive{Msg: probe}) {
		if s, ok := a.(Send); ok {
			rej = s.Msg
		}
	}
	if !rej.Reject || rej.Index != 5 || rej.HintIndex != 0 || rej.HintTerm != 0 {
		t.Fatalf("learner answers %v, want a rejection of 5 with hint 0/0", rej)
	}
	want := []Action{SendSnapshot{
		Msg:      Message{Type: MsgSnap, From: "n1", To: "n2", Term: 1, Snapshot: e.log.snap},
		MaxBytes: 1 << 20,
	}}
	if d := cmp.Diff(want, e.Step(Receive{Msg: rej})); d != "" {
		t.Errorf("leader on the learner's rejection (-want +got):\n%s", d)
	}
}

// MaxUncommittedBytes counts the bytes of this term's entries not yet
// committed: commitment frees them, and with nothing uncommitted any one
// proposal is taken, however large.
func TestUncommittedBytesFreedByCommit(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedBytes = 200 })
	c.elect("n1")
	c.tick()
	propose := func(id uint64, size int) error {
		c.step("n1", Propose{ID: id, Data: make([]byte, size)})
		return c.nodes["n1"].failed[id]
	}
	if err := propose(1, 300); err != nil {
		t.Fatalf("a proposal over the limit with nothing uncommitted: %v, want accepted", err)
	}
	c.stabilize(true)
	c.tick()
	if err := propose(2, 150); err != nil {
		t.Fatalf("after the commit, 150+24 of 200 bytes: %v, want accepted", err)
	}
	if err := propose(3, 2); err != nil {
		t.Fatalf("174+26 of 200 bytes: %v, want accepted", err)
	}
	if err := propose(4, 3); err != ErrBusy {
		t.Fatalf("200+27 of 200 bytes: %v, want ErrBusy", err)
	}
}

// A follower skips the entries of a MsgApp that it already holds
// (a retransmission with more entries after them) and appends only the
// new ones (Raft §5.3 step 3-4).
func TestFollowerAppendsOnlyNewEntries(t *testing.T) {
	e, err := New(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{})
	es := []Entry{{Term: 1, Index: 1, Type: EntryNoop}, {Term: 1, Index: 2, Data: []byte("a")}, {Term: 1, Index: 3, Data: []byte("b")}}
	app := func(n int, commit uint64) Message {
		return Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: slices.Clone(es[:n]), Commit: commit}
	}
	e.Step(Receive{Msg: app(2, 0)})
	want := []Action{
		PersistEntries{Entries: es[2:3]},
		ApplyEntries{Entries: es[:2]},
		Send{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 1, Index: 3}},
		PersistHardState{HardState: HardState{Term: 1, Commit: 2}},
	}
	if d := cmp.Diff(want, e.Step(Receive{Msg: app(3, 2)})); d != "" {
		t.Errorf("follower on a retransmission with a new entry (-want +got):\n%s", d)
	}
}

// MaxUncommittedBytes: a batch that exactly reaches the limit is accepted,
// one byte more is refused with ErrBusy; the first proposal is always taken.
func TestUncommittedBytesBoundary(t *testing.T) {
	busy := func(acts []Action) bool {
		for _, a := range acts {
			if r, ok := a.(ProposalRejected); ok && r.Err == ErrBusy {
				return true
			}
		}
		return false
	}
	e := newLeader(t, func(c *Config) { c.MaxUncommittedBytes = 1000 })
	used := e.uncommittedBytes // the no-op
	room := 1000 - used - entryOverhead
	if busy(e.Step(Propose{ID: 1, Data: make([]byte, room)})) {
		t.Fatal("a proposal that exactly fills MaxUncommittedBytes was refused")
	}
	if !busy(e.Step(Propose{ID: 2, Data: []byte{1}})) {
		t.Fatal("a proposal past MaxUncommittedBytes was accepted")
	}
}

func TestClusterElectsAndReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.elect("n1")
	c.step("n1", Propose{ID: 1, Data: []byte("a")})
	c.stabilize(true)
	c.tick()
	for _, id := range c.ids {
		got := appliedData(c.nodes[id].sm)
		if !slices.Equal(got, []string{"a"}) {
			t.Errorf("%s applied %v, want [a]", id, got)
		}
	}
}
