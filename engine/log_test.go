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
	if l.lastIndex() != 3 || l.bytes != 300 || l.persisted != 3 || l.entries.len() != 3 {
		t.Fatalf("after truncate(4): last=%d bytes=%d persisted=%d len=%d", l.lastIndex(), l.bytes, l.persisted, l.entries.len())
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
