package engine

import (
	"fmt"
	"slices"
)

// raftLog is the live log: the entries after a floor (an index whose term
// is known but whose entry is gone, covered by a snapshot or compacted), plus
// the commit and apply positions.
//
// Invariants: floor ≤ snap.Index ≤ applied ≤ commit ≤ lastIndex() (the
// floor sits below the snapshot when CompactionKeep entries under it are
// kept for slow followers), entries[i].Index == floor+1+i, and
// floor ≤ dataFloor ≤ min(applied, persisted).
type raftLog struct {
	floor     uint64 // entries with index ≤ floor are gone from memory
	floorTerm uint64 // term of the entry at floor
	entries   []Entry
	// lens[i] is the length of entries[i].Data as appended: an entry whose
	// data was released still weighs what it did.
	lens []uint32
	// dataFloor: the entries up to it hold no Data in memory, except config
	// entries (the engine reads those); the host's log has it, and a MsgApp
	// that carries them asks the host to fill it in (Send.FillThrough).
	// Only applied entries the host has made durable are released.
	dataFloor uint64
	// cachedBytes is the total size of the entries above dataFloor.
	cachedBytes uint64

	snap SnapshotMeta // newest snapshot; snap.Index ≥ floor

	commit  uint64
	applied uint64 // last index handed to the host in ApplyEntries
	// persisted is the last index the host reported durable (LogPersisted).
	persisted uint64
	// bytes is the total size of entries.
	bytes uint64
	// appliedBytes is the total size of the entries (snap.Index, applied]:
	// what a new snapshot would replace.
	appliedBytes uint64
	// behind is the total size of the entries (floor, snap.Index]: the log
	// kept below the snapshot (see weighBehind).
	behind uint64
}

func (l *raftLog) firstIndex() uint64 { return l.floor + 1 }

func (l *raftLog) lastIndex() uint64 { return l.floor + uint64(len(l.entries)) }

func (l *raftLog) lastTerm() uint64 { t, _ := l.term(l.lastIndex()); return t }

// term returns the term of the entry at i, and false if i is below the
// floor or above the last index.
func (l *raftLog) term(i uint64) (uint64, bool) {
	switch {
	case i == l.floor:
		return l.floorTerm, true
	case i < l.floor || i > l.lastIndex():
		return 0, false
	}
	return l.entries[i-l.floor-1].Term, true
}

// entry returns the entry at i, which must be in the live log.
func (l *raftLog) entry(i uint64) *Entry { return &l.entries[i-l.floor-1] }

// weighBehind sets behind, the weight of the entries kept below the
// snapshot, (floor, snap.Index]; called when either moves.
func (l *raftLog) weighBehind() {
	l.behind = 0
	for k := range min(l.snap.Index-l.floor, uint64(len(l.lens))) {
		l.behind += uint64(l.lens[k]) + entryOverhead
	}
}

// sizeAt is the weight of the entry at i (in the live log) for byte
// limits: its data as appended, whether or not still in memory, plus a
// fixed overhead.
func (l *raftLog) sizeAt(i uint64) uint64 { return uint64(l.lens[i-l.floor-1]) + entryOverhead }

// matchTerm reports whether the log has an entry at i with term t.
func (l *raftLog) matchTerm(i, t uint64) bool {
	lt, ok := l.term(i)
	return ok && lt == t
}

// isUpToDate implements the election restriction (Raft §5.4.1): a log ending
// in (lastTerm, lastIndex) is at least as up to date as this one.
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	my := l.lastTerm()
	return lastTerm > my || (lastTerm == my && lastIndex >= l.lastIndex())
}

// slice returns entries [lo, hi) limited to maxBytes (at least one entry if
// lo < hi). The returned slice aliases the log; callers must not modify it.
func (l *raftLog) slice(lo, hi, maxBytes uint64) []Entry {
	if lo <= l.floor || lo >= hi {
		return nil
	}
	hi = min(hi, l.lastIndex()+1)
	es := l.entries[lo-l.floor-1 : hi-l.floor-1]
	var size uint64
	for i := range es {
		size += l.sizeAt(lo + uint64(i))
		if i > 0 && size > maxBytes {
			return es[:i:i]
		}
	}
	return es[:len(es):len(es)]
}

// append adds entries at the end; they must follow lastIndex.
func (l *raftLog) append(es ...Entry) {
	for _, e := range es {
		l.appendSized(e, uint32(len(e.Data)))
	}
}

// appendSized adds e at the end, weighing size bytes of data: e may come
// without its data (Recover.Sizes). It must follow lastIndex.
func (l *raftLog) appendSized(e Entry, size uint32) {
	if e.Index != l.lastIndex()+1 {
		panic(fmt.Sprintf("engine: appending %s after last index %d", e, l.lastIndex()))
	}
	l.entries = append(l.entries, e)
	l.lens = append(l.lens, size)
	w := uint64(size) + entryOverhead
	l.bytes += w
	l.cachedBytes += w
}

// hostApplied records that the host applied the entries (dataFloor, a]
// while recovering (Recover.Applied): they are committed and applied, and
// their data is the host's log's, as if released (see release). a is at
// most commit's bound and lastIndex; l is fresh from Recover, so
// dataFloor, applied and snap.Index are its floor.
func (l *raftLog) hostApplied(a uint64) {
	for i := l.dataFloor + 1; i <= a; i++ {
		if e := l.entry(i); e.Type != EntryConfig {
			e.Data = nil
		}
		l.cachedBytes -= l.sizeAt(i)
		l.appliedBytes += l.sizeAt(i)
	}
	l.dataFloor, l.commit, l.applied = a, a, a
}

// reserve makes room for n more entries, so that appending them one at a
// time (Recover) does not copy the log at every doubling.
func (l *raftLog) reserve(n int) {
	l.entries = slices.Grow(l.entries, n)
	l.lens = slices.Grow(l.lens, n)
}

// truncate removes entries with index ≥ i (i > commit).
func (l *raftLog) truncate(i uint64) {
	if i <= l.commit || i <= l.floor {
		panic(fmt.Sprintf("engine: truncating at %d with commit %d floor %d", i, l.commit, l.floor))
	}
	// Every truncated entry is uncommitted, so above dataFloor.
	for _, n := range l.lens[i-l.floor-1:] {
		l.bytes -= uint64(n) + entryOverhead
		l.cachedBytes -= uint64(n) + entryOverhead
	}
	clear(l.entries[i-l.floor-1:])
	l.entries = l.entries[:i-l.floor-1]
	l.lens = l.lens[:i-l.floor-1]
	l.persisted = min(l.persisted, i-1)
}

// compact drops entries with index ≤ i from memory (i ≤ applied).
func (l *raftLog) compact(i uint64) {
	if i <= l.floor {
		return
	}
	t, _ := l.term(i)
	for k, n := range l.lens[:i-l.floor] {
		l.bytes -= uint64(n) + entryOverhead
		if l.entries[k].Index > l.dataFloor {
			l.cachedBytes -= uint64(n) + entryOverhead
		}
	}
	l.entries = shiftDown(l.entries, int(i-l.floor))
	l.lens = shiftDown(l.lens, int(i-l.floor))
	l.floor, l.floorTerm = i, t
	l.dataFloor = max(l.dataFloor, i)
}

// shiftDown drops the first k elements of s. It moves the rest to the
// front, keeping the capacity for the entries appended until the next
// compaction (a fresh slice of exactly the rest regrew by doubling after
// every compaction: 3.4% of a leader's CPU under writes), and clears the
// tail so the dropped entries' data can be freed. A capacity four times
// what is kept, beyond 64Ki elements, is given back.
func shiftDown[T any](s []T, k int) []T {
	rest := len(s) - k
	if c := cap(s); c > 64<<10 && c > 4*rest {
		return append(make([]T, 0, 2*rest), s[k:]...)
	}
	copy(s, s[k:])
	clear(s[rest:])
	return s[:rest]
}

// release drops the data of the oldest entries kept in memory while they
// weigh more than budget bytes, among the applied entries the host has made
// durable (its log can give them back). Config entries keep their data.
func (l *raftLog) release(budget uint64) {
	limit := min(l.applied, l.persisted)
	for l.cachedBytes > budget && l.dataFloor < limit {
		i := l.dataFloor + 1 // > floor: dataFloor ≥ floor
		if e := l.entry(i); e.Type != EntryConfig {
			e.Data = nil
		}
		l.cachedBytes -= l.sizeAt(i)
		l.dataFloor = i
	}
}

// reset replaces the log with an empty one whose floor is the snapshot,
// keeping the entries after it when keep is set.
func (l *raftLog) reset(s SnapshotMeta, keep bool) {
	var kept []Entry
	var keptLens []uint32
	if keep {
		kept = append(kept, l.entries[s.Index-l.floor:]...)
		keptLens = append(keptLens, l.lens[s.Index-l.floor:]...)
	}
	l.entries, l.lens, l.bytes, l.cachedBytes, l.behind = kept, keptLens, 0, 0, 0
	l.floor, l.floorTerm, l.snap = s.Index, s.Term, s
	l.dataFloor = max(l.dataFloor, s.Index)
	if !keep {
		l.dataFloor = s.Index
	}
	for i := range kept {
		size := uint64(keptLens[i]) + entryOverhead
		l.bytes += size
		if kept[i].Index > l.dataFloor {
			l.cachedBytes += size
		}
	}
	l.commit = max(l.commit, s.Index)
	l.applied = max(l.applied, s.Index)
	l.appliedBytes = 0
	for k, e := range l.entries {
		if e.Index <= l.applied {
			l.appliedBytes += uint64(l.lens[k]) + entryOverhead
		}
	}
	l.persisted = max(min(l.persisted, l.lastIndex()), s.Index)
	if !keep {
		l.persisted = s.Index
	}
}

// findConflictByTerm returns the largest index ≤ i whose term is ≤ t, or the
// floor (Raft §5.3, the fast back-off optimization).
func (l *raftLog) findConflictByTerm(i, t uint64) (uint64, uint64) {
	i = min(i, l.lastIndex())
	for ; i > l.floor; i-- {
		if et := l.entry(i).Term; et <= t {
			return i, et
		}
	}
	return l.floor, l.floorTerm
}
