package engine

import "testing"

// BenchmarkLogAppendCompact is the leader's steady state under writes: one
// entry appended per op, the applied log compacted every 10,000 entries
// down to the 1,000 kept for slow followers (the defaults' shape).
func BenchmarkLogAppendCompact(b *testing.B) {
	l := &raftLog{}
	data := make([]byte, 128)
	b.ReportAllocs()
	for i := range uint64(b.N) {
		idx := i + 1
		l.append(Entry{Term: 1, Index: idx, Data: data})
		l.commit, l.applied, l.persisted = idx, idx, idx
		if idx%10_000 == 0 {
			l.compact(idx - 1000)
		}
	}
}
