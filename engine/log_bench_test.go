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

// BenchmarkRecover50k is a restart's Recover with 50,000 live entries of
// 128 B above the snapshot (a follower that stopped halfway between two
// snapshots): the engine copies them into its log.
func BenchmarkRecover50k(b *testing.B) {
	const n = 50_000
	data := make([]byte, 128)
	ents := make([]Entry, n)
	for i := range ents {
		ents[i] = Entry{Term: 2, Index: uint64(i) + 1001, Data: data}
	}
	r := Recover{
		HardState: HardState{Term: 2, Commit: n + 1000},
		Snapshot:  SnapshotMeta{Index: 1000, Term: 1, Membership: Membership{Voters: []NodeID{"a", "b", "c"}}},
		Entries:   ents,
	}
	b.ReportAllocs()
	for b.Loop() {
		e, err := New(Config{ID: "a", ElectionTicks: 10})
		if err != nil {
			b.Fatal(err)
		}
		e.Step(r)
		if e.log.lastIndex() != n+1000 || e.log.commit != n+1000 {
			b.Fatalf("recovered last %d commit %d, want %d", e.log.lastIndex(), e.log.commit, n+1000)
		}
	}
}
