package engine

import "testing"

// cachedLeader returns n1 leading n1, n2, n3 with room for about one
// entry's data in memory, after count entries of 76 bytes (100 with the
// overhead) committed with n2 and applied; n3 has not answered yet.
func cachedLeader(t *testing.T, count int) *Engine {
	t.Helper()
	e := newLeader(t, func(c *Config) { c.EntryCacheBytes = 150 })
	ack := func() {
		e.Step(LogPersisted{Index: e.log.lastIndex(), Term: e.term})
		e.Step(Receive{Msg: Message{Type: MsgAppResp, From: "n2", To: "n1", Term: e.term, Index: e.log.lastIndex()}})
	}
	ack()
	for i := range count {
		e.Step(Propose{ID: uint64(i + 1), Data: make([]byte, 76)})
		ack()
	}
	if e.log.applied != e.log.lastIndex() {
		t.Fatalf("applied %d of %d", e.log.applied, e.log.lastIndex())
	}
	return e
}

// appTo returns the MsgApp a step sent to id, and its Send.
func appTo(t *testing.T, as []Action, id NodeID) Send {
	t.Helper()
	for _, a := range as {
		if s, ok := a.(Send); ok && s.Msg.Type == MsgApp && s.Msg.To == id {
			return s
		}
	}
	t.Fatalf("no MsgApp to %s in %v", id, as)
	return Send{}
}

// A MsgApp that carries entries whose data the leader released asks the
// host to fill exactly those (FillThrough), from the first entry sent if it
// is the last released one, and not at all when none was released.
func TestSendFillsReleasedEntries(t *testing.T) {
	for _, c := range []struct {
		name      string
		match     func(e *Engine) uint64 // what n3 acknowledges
		wantFirst func(e *Engine) uint64
		wantFill  func(e *Engine) uint64
	}{
		{"from the log's start", func(*Engine) uint64 { return 1 },
			func(*Engine) uint64 { return 2 }, func(e *Engine) uint64 { return e.log.dataFloor }},
		{"from the last released entry", func(e *Engine) uint64 { return e.log.dataFloor - 1 },
			func(e *Engine) uint64 { return e.log.dataFloor }, func(e *Engine) uint64 { return e.log.dataFloor }},
		{"from the first cached entry", func(e *Engine) uint64 { return e.log.dataFloor },
			func(e *Engine) uint64 { return e.log.dataFloor + 1 }, func(*Engine) uint64 { return 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := cachedLeader(t, 6)
			if e.log.dataFloor < 3 || e.log.dataFloor >= e.log.lastIndex() {
				t.Fatalf("data floor %d of %d entries: the cache is not released as the test needs", e.log.dataFloor, e.log.lastIndex())
			}
			match := c.match(e)
			s := appTo(t, e.Step(Receive{Msg: Message{Type: MsgAppResp, From: "n3", To: "n1", Term: e.term, Index: match}}), "n3")
			if len(s.Msg.Entries) == 0 || s.Msg.Entries[0].Index != c.wantFirst(e) {
				t.Fatalf("MsgApp to n3 after its ack of %d starts at %v, want %d", match, s.Msg.Entries, c.wantFirst(e))
			}
			if s.FillThrough != c.wantFill(e) {
				t.Errorf("FillThrough = %d, want %d (data floor %d, entries %d..%d)", s.FillThrough, c.wantFill(e),
					e.log.dataFloor, s.Msg.Entries[0].Index, s.Msg.Entries[len(s.Msg.Entries)-1].Index)
			}
			for _, ent := range s.Msg.Entries {
				if ent.Index > s.FillThrough && len(ent.Data) != 76 {
					t.Errorf("entry %d above FillThrough %d carries %d bytes of data, want 76", ent.Index, s.FillThrough, len(ent.Data))
				}
			}
		})
	}
}

// release keeps the cached data while it weighs at most the budget: a
// cache exactly at its budget releases nothing.
func TestReleaseKeepsCacheAtBudget(t *testing.T) {
	e := cachedLeader(t, 4)
	before, floor := e.log.cachedBytes, e.log.dataFloor
	e.log.release(before)
	if e.log.cachedBytes != before || e.log.dataFloor != floor {
		t.Errorf("release(%d) with %d cached moved the data floor %d -> %d", before, before, floor, e.log.dataFloor)
	}
	e.log.release(before - 1)
	if e.log.dataFloor != floor+1 {
		t.Errorf("release(%d) with %d cached: data floor %d -> %d, want one entry released", before-1, before, floor, e.log.dataFloor)
	}
}

// release never drops the data of an entry that is not both applied and
// durable: the host could not give it back.
func TestReleaseStopsAtAppliedAndPersisted(t *testing.T) {
	e := cachedLeader(t, 4)
	limit := e.log.applied
	e.Step(Propose{ID: 100, Data: make([]byte, 76)})
	e.Step(Propose{ID: 101, Data: make([]byte, 76)})
	e.log.release(0)
	if e.log.dataFloor != limit {
		t.Errorf("release(0) with entries applied and persisted through %d: data floor %d, want %d", limit, e.log.dataFloor, limit)
	}
	for i := limit + 1; i <= e.log.lastIndex(); i++ {
		if len(e.log.entry(i).Data) != 76 {
			t.Errorf("entry %d (not applied) lost its data", i)
		}
	}
}
