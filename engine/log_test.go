package engine

import "testing"

// raftLog.truncate refuses to remove a committed entry (its contract is
// i > commit): a follower never rewrites what a quorum holds.
func TestRaftLogTruncateRefusesCommitted(t *testing.T) {
	for _, tc := range []struct {
		at    uint64
		panic bool
	}{{2, true}, {3, true}, {4, false}} {
		var l raftLog
		for i := uint64(1); i <= 5; i++ {
			l.append(Entry{Term: 1, Index: i})
		}
		l.commit = 3
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			l.truncate(tc.at)
			return false
		}()
		if panicked != tc.panic {
			t.Errorf("truncate(%d) with commit 3: panicked=%v, want %v", tc.at, panicked, tc.panic)
		}
		if !tc.panic && l.lastIndex() != tc.at-1 {
			t.Errorf("truncate(%d): last index %d, want %d", tc.at, l.lastIndex(), tc.at-1)
		}
	}
}

// Compaction keeps the log's capacity for the entries to come, clears what
// it dropped, and gives back a capacity four times what it keeps beyond
// 64Ki elements.
func TestShiftDown(t *testing.T) {
	s := make([]*int, 10, 16)
	for i := range s {
		s[i] = new(int)
		*s[i] = i
	}
	got := shiftDown(s, 7)
	if len(got) != 3 || cap(got) != 16 || *got[0] != 7 || *got[2] != 9 {
		t.Fatalf("shiftDown(10 of cap 16, 7): len %d cap %d", len(got), cap(got))
	}
	for i, p := range got[:cap(got)][3:] {
		if p != nil {
			t.Fatalf("element %d past the end still refers to dropped data", i+3)
		}
	}
	for _, c := range []struct {
		capacity, keep, wantCap int
	}{
		{64 << 10, 1, 64 << 10},                    // not beyond 64Ki: kept
		{64<<10 + 4, (64<<10 + 4) / 4, 64<<10 + 4}, // exactly four times: kept
		{64<<10 + 4, (64<<10+4)/4 - 1, 2 * ((64<<10+4)/4 - 1)},
		{100_000, 10, 20},
	} {
		s := make([]uint32, c.capacity)
		for i := range s {
			s[i] = uint32(i)
		}
		got := shiftDown(s, c.capacity-c.keep)
		if len(got) != c.keep || cap(got) != c.wantCap {
			t.Errorf("cap %d keep %d: len %d cap %d, want cap %d", c.capacity, c.keep, len(got), cap(got), c.wantCap)
		}
		if got[0] != uint32(c.capacity-c.keep) || got[c.keep-1] != uint32(c.capacity-1) {
			t.Errorf("cap %d keep %d: kept %d..%d", c.capacity, c.keep, got[0], got[c.keep-1])
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
