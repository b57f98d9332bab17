package node

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
)

// History: the committed log a node keeps is the history a reader (a
// watch) replays, from a base state: a retained snapshot, or the empty
// state at index 0 while the log still starts at 1. The node keeps the log
// from its oldest retained snapshot on (compaction stops there), so the
// history reaches back to that snapshot; a reader that is replaying pins
// its position, and compaction waits for it.

// ErrHistoryCompacted matches a *HistoryCompactedError.
var ErrHistoryCompacted = errors.New("yggr: revision compacted")

// HistoryCompactedError says that the history before Oldest is gone.
type HistoryCompactedError struct {
	Requested uint64 // the revision asked for
	Oldest    uint64 // the oldest revision still available
}

func (e *HistoryCompactedError) Error() string {
	return fmt.Sprintf("yggr: revision %d is compacted; the oldest available is %d", e.Requested, e.Oldest)
}

// Is makes errors.Is(err, ErrHistoryCompacted) true.
func (e *HistoryCompactedError) Is(target error) bool { return target == ErrHistoryCompacted }

// historyPins is the positions readers are replaying from; compaction
// keeps the log above the lowest.
type historyPins struct {
	mu   sync.Mutex
	pins []uint64 // a multiset
}

func (p *historyPins) add(index uint64) func() {
	p.mu.Lock()
	p.pins = append(p.pins, index)
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			if i := slices.Index(p.pins, index); i >= 0 {
				p.pins = slices.Delete(p.pins, i, i+1)
			}
			p.mu.Unlock()
		})
	}
}

// min returns the lowest pin, and false if there is none.
func (p *historyPins) min() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pins) == 0 {
		return 0, false
	}
	return slices.Min(p.pins), true
}

// historyBases returns the indexes a replay may start from, ascending: the
// retained snapshots the log continues from, and 0 (the empty state) while
// the log still holds index 1.
func (n *Node) historyBases() []uint64 {
	floor := n.logs.HistoryFloor()
	var bases []uint64
	if floor == 0 {
		bases = append(bases, 0)
	}
	for _, m := range n.snaps.List() {
		if m.Index >= floor {
			bases = append(bases, m.Index)
		}
	}
	return bases
}

// OldestHistory returns the oldest revision the log can replay: the
// oldest base + 1.
func (n *Node) OldestHistory() uint64 {
	if bases := n.historyBases(); len(bases) > 0 {
		return bases[0] + 1
	}
	return n.logs.HistoryFloor() + 1
}

// OpenHistory restores sm (a fresh state machine, not the node's) to the
// newest base at or below index and returns the base's index, from which
// History reads on, and a release function to call when done: until then,
// compaction keeps the log from the base on. It fails with a
// *HistoryCompactedError if no base is that old.
func (n *Node) OpenHistory(index uint64, sm StateMachine) (base uint64, release func(), err error) {
	for range 3 { // a snapshot may be pruned between List and Open
		bases := n.historyBases()
		i, found := slices.BinarySearch(bases, index)
		if !found {
			i--
		}
		if i < 0 {
			oldest := n.logs.HistoryFloor() + 1
			if len(bases) > 0 {
				oldest = bases[0] + 1
			}
			return 0, nil, &HistoryCompactedError{Requested: index + 1, Oldest: oldest}
		}
		base = bases[i]
		release = n.pins.add(base)
		if base == 0 {
			if n.logs.HistoryFloor() == 0 {
				return 0, release, nil
			}
			release()
			continue
		}
		err = n.restoreInto(base, sm)
		if err == nil && n.logs.HistoryFloor() <= base {
			return base, release, nil
		}
		release()
		if err != nil && !errors.Is(err, errSnapshotGone) {
			return 0, nil, err
		}
	}
	return 0, nil, &HistoryCompactedError{Requested: index + 1, Oldest: n.OldestHistory()}
}

// errSnapshotGone: the snapshot was pruned after it was listed.
var errSnapshotGone = errors.New("snapshot pruned")

// restoreInto reads the retained snapshot at index into sm.
func (n *Node) restoreInto(index uint64, sm StateMachine) error {
	var meta engine.SnapshotMeta
	for _, m := range n.snaps.List() {
		if m.Index == index {
			meta = m
		}
	}
	if meta.Index == 0 {
		return errSnapshotGone
	}
	r, err := n.snaps.Open(meta.Index, meta.Term)
	if err != nil {
		return errSnapshotGone
	}
	defer r.Close()
	if _, err := readSnapshotStream(r, sm); err != nil {
		return fmt.Errorf("replaying history from snapshot %s: %w", meta, err)
	}
	return nil
}

// History returns committed entries [lo, hi) from the log, at most
// maxBytes of them but at least one if the log holds lo (see
// log.Store.History); hi must not pass Applied()+1. The log may trail the
// applied index: a follower applies committed entries before its own copy
// of them is durable. History then returns what the log holds, nothing if
// not lo yet (the caller waits for the write). Below the log's history it
// fails with a *HistoryCompactedError.
func (n *Node) History(lo, hi, maxBytes uint64) ([]engine.Entry, error) {
	if applied := n.Applied(); hi > applied+1 {
		return nil, fmt.Errorf("node: history up to %d beyond the applied index %d", hi-1, applied)
	}
	// Committed entries are never truncated, so the log only grows up to
	// hi from here. A log two or more entries short of lo holds nothing
	// to return yet either (log.Store.History refuses a range past its
	// end: found by TestWatchChaos, whose truth reader asked a leader for
	// 444 while its log ended at 440).
	last := n.logs.LastIndex()
	if lo > last {
		return nil, nil
	}
	hi = max(lo, min(hi, last+1))
	es, err := n.logs.History(lo, hi, maxBytes)
	if errors.Is(err, raftlog.ErrCompacted) {
		return nil, &HistoryCompactedError{Requested: lo, Oldest: n.OldestHistory()}
	}
	return es, err
}

// historyHold is the highest index compaction may reach without cutting
// the history short: the oldest retained snapshot, or the lowest pin.
func (n *Node) historyHold(index uint64) uint64 {
	if snaps := n.snaps.List(); len(snaps) > 0 {
		index = min(index, snaps[0].Index)
	}
	if p, ok := n.pins.min(); ok {
		index = min(index, p)
	}
	return index
}
