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
