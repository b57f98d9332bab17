package engine

import (
	"fmt"
)

// raftLog is the live log: the entries after a floor (an index whose term
// is known but whose entry is gone, covered by a snapshot or compacted), plus
// the commit and apply positions.
//
// Invariants: floor ≤ snap.Index ≤ applied ≤ commit ≤ lastIndex() (the
// floor sits below the snapshot when CompactionKeep entries under it are
// kept for slow followers), entries.at(k).Index == floor+1+k, and
// floor ≤ dataFloor ≤ min(applied, persisted).
type raftLog struct {
	floor     uint64 // entries with index ≤ floor are gone from memory
	floorTerm uint64 // term of the entry at floor
	// entries holds the entries after floor, each with the length of its
	// Data as appended: an entry whose data was released still weighs
	// what it did.
	entries entryStore
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

func (l *raftLog) lastIndex() uint64 { return l.floor + uint64(l.entries.len()) }

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
	return l.entries.at(int(i - l.floor - 1)).Term, true
}

// entry returns the entry at i, which must be in the live log.
func (l *raftLog) entry(i uint64) *Entry { return l.entries.at(int(i - l.floor - 1)) }

// weighBehind sets behind, the weight of the entries kept below the
// snapshot, (floor, snap.Index]; called when either moves.
func (l *raftLog) weighBehind() {
	l.behind = 0
	for k := range min(int(l.snap.Index-l.floor), l.entries.len()) {
		l.behind += uint64(l.entries.lenAt(k)) + entryOverhead
	}
}

// sizeAt is the weight of the entry at i (in the live log) for byte
// limits: its data as appended, whether or not still in memory, plus a
// fixed overhead.
func (l *raftLog) sizeAt(i uint64) uint64 {
	return uint64(l.entries.lenAt(int(i-l.floor-1))) + entryOverhead
}

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

// slice returns a copy of the entries [lo, hi) limited to maxBytes (at
// least one entry if lo < hi). The entries' Data still alias the log's.
func (l *raftLog) slice(lo, hi, maxBytes uint64) []Entry {
	if lo <= l.floor || lo >= hi {
		return nil
	}
	hi = min(hi, l.lastIndex()+1)
	if lo >= hi {
		return nil
	}
	end, size := lo, uint64(0)
	for ; end < hi; end++ {
		size += l.sizeAt(end)
		if end > lo && size > maxBytes {
			break
		}
	}
	return l.entries.copyRange(int(lo-l.floor-1), int(end-l.floor-1))
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
	l.entries.push(e, size)
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

// truncate removes entries with index ≥ i (i > commit).
func (l *raftLog) truncate(i uint64) {
	if i <= l.commit || i <= l.floor {
		panic(fmt.Sprintf("engine: truncating at %d with commit %d floor %d", i, l.commit, l.floor))
	}
	// Every truncated entry is uncommitted, so above dataFloor.
	for k := int(i - l.floor - 1); k < l.entries.len(); k++ {
		n := l.entries.lenAt(k)
		l.bytes -= uint64(n) + entryOverhead
		l.cachedBytes -= uint64(n) + entryOverhead
	}
	l.entries.truncate(int(i - l.floor - 1))
	l.persisted = min(l.persisted, i-1)
}

// compact drops entries with index ≤ i from memory (i ≤ applied).
func (l *raftLog) compact(i uint64) {
	if i <= l.floor {
		return
	}
	t, _ := l.term(i)
	for k := range int(i - l.floor) {
		n := l.entries.lenAt(k)
		l.bytes -= uint64(n) + entryOverhead
		if l.entries.at(k).Index > l.dataFloor {
			l.cachedBytes -= uint64(n) + entryOverhead
		}
	}
	l.entries.dropFront(int(i - l.floor))
	l.floor, l.floorTerm = i, t
	l.dataFloor = max(l.dataFloor, i)
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
	if keep {
		l.entries.dropFront(int(s.Index - l.floor))
	} else {
		l.entries.truncate(0)
	}
	l.bytes, l.cachedBytes, l.behind = 0, 0, 0
	l.floor, l.floorTerm, l.snap = s.Index, s.Term, s
	l.dataFloor = max(l.dataFloor, s.Index)
	if !keep {
		l.dataFloor = s.Index
	}
	l.commit = max(l.commit, s.Index)
	l.applied = max(l.applied, s.Index)
	l.appliedBytes = 0
	for k := range l.entries.len() {
		size := uint64(l.entries.lenAt(k)) + entryOverhead
		l.bytes += size
		idx := l.entries.at(k).Index
		if idx > l.dataFloor {
			l.cachedBytes += size
		}
		if idx <= l.applied {
			l.appliedBytes += size
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
