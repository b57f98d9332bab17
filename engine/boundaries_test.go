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
	newLeader := func(limit uint64) *Engine {
		e, err := New(Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}, MaxUncommittedBytes: limit, DisablePreVote: true})
		if err != nil {
			t.Fatal(err)
		}
		e.Step(Recover{})
		for i := 0; i < 100 && e.role != Candidate; i++ {
			e.Step(Tick{})
		}
		e.Step(Receive{Msg: Message{Type: MsgVoteResp, From: "n2", To: "n1", Term: e.term}})
		if e.role != Leader {
			t.Fatalf("not leader: %s", e.Status())
		}
		return e
	}
	busy := func(acts []Action) bool {
		for _, a := range acts {
			if r, ok := a.(ProposalRejected); ok && r.Err == ErrBusy {
				return true
			}
		}
		return false
	}
	e := newLeader(1000)
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
