package engine

import "testing"

// Boundary tests for rules whose off-by-one variants survived mutation
// testing.

// Raft §5.4.1: a candidate whose log ends exactly where ours does is up to
// date; one entry shorter, or an older last term, is not.
func TestIsUpToDateBoundaries(t *testing.T) {
	var l raftLog
	l.append(Entry{Term: 1, Index: 1}, Entry{Term: 2, Index: 2}, Entry{Term: 2, Index: 3})
	cases := []struct {
		index, term uint64
		want        bool
	}{
		{3, 2, true},  // identical
		{4, 2, true},  // longer, same term
		{2, 2, false}, // shorter, same term
		{9, 1, false}, // longer but older term
		{1, 3, true},  // shorter but newer term
	}
	for _, c := range cases {
		if got := l.isUpToDate(c.index, c.term); got != c.want {
			t.Errorf("isUpToDate(%d/%d) = %v, want %v", c.term, c.index, got, c.want)
		}
	}
}

// The byte limit of a MsgApp keeps at least one entry and stops before the
// entry that would exceed it; an entry that exactly fills it is included.
func TestSliceByteLimit(t *testing.T) {
	var l raftLog
	for i := uint64(1); i <= 4; i++ {
		l.append(Entry{Term: 1, Index: i, Data: make([]byte, 100-entryOverhead)}) // size 100 each
	}
	cases := []struct {
		max  uint64
		want int
	}{{1, 1}, {100, 1}, {199, 1}, {200, 2}, {399, 3}, {400, 4}, {1 << 20, 4}}
	for _, c := range cases {
		if got := len(l.slice(1, 5, c.max)); got != c.want {
			t.Errorf("slice(1,5,%d) has %d entries, want %d", c.max, got, c.want)
		}
	}
	if got := l.slice(2, 4, 1<<20); len(got) != 2 || got[0].Index != 2 || got[1].Index != 3 {
		t.Errorf("slice(2,4) = %v, want 2..3", got)
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

// progress.maybeUpdate: only a higher index advances match; an equal one
// does not, but still frees the in-flight messages it covers.
func TestMaybeUpdateBoundary(t *testing.T) {
	p := &progress{match: 5, next: 9, state: Replicate, inflight: []uint64{6, 8}}
	if p.maybeUpdate(5) {
		t.Error("an acknowledgement of the current match reported progress")
	}
	if !p.maybeUpdate(6) || p.match != 6 || len(p.inflight) != 1 || p.inflight[0] != 8 {
		t.Errorf("after ack 6: %+v", p)
	}
	// An acknowledgement past next (of a MsgApp sent before the leader
	// backed off) moves next past it: those entries are not sent again.
	p = &progress{match: 5, next: 7, state: Replicate}
	if !p.maybeUpdate(9) || p.match != 9 || p.next != 10 {
		t.Errorf("after ack 9 with next 7: %+v, want match 9 next 10", p)
	}
}

// UnmarshalConfig rejects data shorter than its two header bytes, and
// accepts the smallest valid entry.
func TestUnmarshalConfigShortest(t *testing.T) {
	for _, b := range [][]byte{nil, {configEntryVersion}} {
		if _, _, err := UnmarshalConfig(b); err == nil {
			t.Errorf("UnmarshalConfig(%v) accepted", b)
		}
	}
	m := NewMembership([]NodeID{"a"}, nil)
	if _, got, err := UnmarshalConfig(MarshalConfig(ConfChange{Op: ConfAddVoter, Node: "a"}, m)); err != nil || !got.Equal(m) {
		t.Errorf("round trip: %v %v", got, err)
	}
}

// Config.Validate at the exact edges of each rule.
func TestConfigValidateEdges(t *testing.T) {
	base := func(f func(*Config)) error {
		c := Config{ID: "n1", ElectionTicks: 10, HeartbeatTicks: 1}
		f(&c)
		return c.Validate()
	}
	cases := []struct {
		name string
		f    func(*Config)
		ok   bool
	}{
		{"election 2 heartbeat 1", func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 2, 1 }, true},
		{"heartbeat just below election", func(c *Config) { c.HeartbeatTicks = 9 }, true},
		{"heartbeat equal to election", func(c *Config) { c.HeartbeatTicks = 10 }, false},
		{"one inflight message", func(c *Config) { c.MaxInflightMsgs = 1 }, true},
		{"negative inflight", func(c *Config) { c.MaxInflightMsgs = -1 }, false},
		{"one pending read", func(c *Config) { c.MaxPendingReads = 1 }, true},
		{"negative pending reads", func(c *Config) { c.MaxPendingReads = -1 }, false},
		{"one drift tick", func(c *Config) { c.ClockDriftTicks = 1 }, true},
		{"negative drift", func(c *Config) { c.ClockDriftTicks = -1 }, false},
		{"lease at the bound", func(c *Config) { c.ClockDriftTicks, c.LeaseTicks = 2, 8 }, true},
		{"lease one past the bound", func(c *Config) { c.ClockDriftTicks, c.LeaseTicks = 2, 9 }, false},
		{"chunk of 64 MiB", func(c *Config) { c.SnapshotChunkBytes = 64 << 20 }, true},
		{"chunk past 64 MiB", func(c *Config) { c.SnapshotChunkBytes = 64<<20 + 1 }, false},
	}
	for _, c := range cases {
		if err := base(c.f); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// The engine's counters count what happened, exactly, in a small story:
// n1 campaigns with pre-vote and wins; one proposal is committed; a
// follower rejects a mismatched append; a proposal to a follower is
// rejected.
func TestCountersCountExactly(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect("n1")
	c.step("n1", Propose{ID: 1, Data: []byte("a")})
	c.deliver()
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

// A follower that heard from its leader exactly ElectionTicks-1 ticks ago
// still refuses a disruptive vote; one tick later it no longer does.
func TestInLeaseBoundary(t *testing.T) {
	e, err := New(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTicks: 10})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(Recover{})
	e.Step(Receive{Msg: Message{Type: MsgHeartbeat, From: "n1", To: "n2", Term: 1}})
	e.electionElapsed = 9
	if !e.inLease() {
		t.Fatal("9 ticks after the leader's heartbeat (ElectionTicks 10): not in lease")
	}
	e.electionElapsed = 10
	if e.inLease() {
		t.Fatal("10 ticks after the leader's heartbeat: still in lease")
	}
}

// raftLog bookkeeping: truncation and compaction keep bytes, the entries
// and the persisted mark exact.
func TestRaftLogTruncateAndCompact(t *testing.T) {
	var l raftLog
	for i := uint64(1); i <= 5; i++ {
		l.append(Entry{Term: 1, Index: i, Data: make([]byte, 100-entryOverhead)})
	}
	l.persisted, l.commit = 5, 2
	l.truncate(4)
	if l.lastIndex() != 3 || l.bytes != 300 || l.persisted != 3 || len(l.entries) != 3 {
		t.Fatalf("after truncate(4): last=%d bytes=%d persisted=%d len=%d", l.lastIndex(), l.bytes, l.persisted, len(l.entries))
	}
	l.append(Entry{Term: 2, Index: 4})
	if l.entry(4).Term != 2 {
		t.Fatal("append after truncate misplaced")
	}
	l.applied = 3
	l.compact(2)
	if l.floor != 2 || l.floorTerm != 1 || l.firstIndex() != 3 || l.bytes != 100+entryOverhead || l.entry(3).Index != 3 {
		t.Fatalf("after compact(2): floor=%d/%d first=%d bytes=%d", l.floorTerm, l.floor, l.firstIndex(), l.bytes)
	}
	l.compact(2) // at the floor: nothing
	if l.floor != 2 {
		t.Fatal("compact at the floor moved it")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("truncate at the commit index did not panic")
			}
		}()
		l.truncate(2)
	}()
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
