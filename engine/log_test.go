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
