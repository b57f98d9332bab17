package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is what a proposal or read waiter receives.
type result struct {
	data  []byte
	index uint64
	err   error
	// For a proposal: when the driver appended it, when the driver saw it
	// committed, and when the apply goroutine applied it (stage metrics).
	accepted, committed, applied time.Time
}

// proposalWaiter waits for one proposal. It is keyed by its proposal ID
// until the leader accepts it, then by (term, index): if the entry applied
// at index has another term, the proposal was overwritten and fails with
// ErrDropped rather than receiving another client's result.
type proposalWaiter struct {
	ch          chan result // buffered 1; receives exactly one result
	term, index uint64
	accepted    time.Time // when the driver appended it
}

// waiters is the registry shared by callers, the driver and the apply
// goroutine.
type waiters struct {
	mu      sync.Mutex
	nextID  uint64
	byID    map[uint64]*proposalWaiter // proposals not yet accepted
	byIndex map[uint64]*proposalWaiter // accepted proposals
	reads   map[uint64]*readBatch      // read batches waiting for a read index
	// readInFlight is the batch handed to the engine; openRead is the
	// batch new reads join meanwhile (nil if none).
	readInFlight, openRead *readBatch

	// applied watchers: closed once applied ≥ index. appliedFast mirrors
	// applied for waits that are already satisfied, without the lock.
	applied     uint64
	appliedFast atomic.Uint64
	watchers    []appliedWatcher
}

type appliedWatcher struct {
	index uint64
	ch    chan struct{}
}

func newWaiters() *waiters {
	return &waiters{byID: map[uint64]*proposalWaiter{}, byIndex: map[uint64]*proposalWaiter{}, reads: map[uint64]*readBatch{}}
}

// newProposal registers a proposal waiter and returns its ID.
func (w *waiters) newProposal() (uint64, *proposalWaiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	pw := &proposalWaiter{ch: make(chan result, 1)}
	w.byID[w.nextID] = pw
	return w.nextID, pw
}

// readBatch is a group of reads served by one engine.Read. At most one
// batch per node is in the engine at a time; reads that arrive meanwhile
// join the open batch, which is handed to the engine once the batch before
// it is answered and all of that batch's readers have woken up (leaveRead).
// Every member of a batch joined it before its Read was stepped, so the
// read index the engine chooses serves all of them.
//
// Safety does not depend on when the next batch is handed on: the only
// rule is that a read never rides a round that was stepped before it
// joined, and joinRead adds to the open batch only, never to the one in
// flight. Handing on as soon as the batch in flight is answered would be
// just as linearizable; the wait for its readers is for throughput.
// Waiting for them costs the next batch the time it takes to schedule
// them, a few microseconds each, and gains it every one of them that comes
// straight back (a closed loop of clients): the batches grow towards the
// number of concurrent readers instead of alternating between two halves,
// and a busy node spends half the rounds (heartbeats, their answers,
// driver iterations) on the same reads. Handing on at the answer was
// measured again at c00915f (issue 15; BenchmarkGet/linearizable, -count
// 6 interleaved, load1 4-9): 62.3 -> 26.4 reads/batch, CPU per read
// +52%, reads/s -37%.
//
// Two batches in the engine, to overlap one batch's round with the other's
// wake-up, did not pay either (at c8fc162, issue 15; BenchmarkGetBenchLoop,
// 6 runs interleaved, load1 11-15): with the open batch handed on early
// once it held half of the waiting readers, 62.3 -> 40.7 reads/batch, CPU
// per read +10%, median reads/s 218k -> 159k (145k with the engine also
// keeping two rounds in flight); handed on at three quarters, 51
// reads/batch, CPU +8%, 212k -> 198k. On a quieter machine (load1 2.3-2.6,
// 4 runs each) the same: one batch 381k reads/s at 2.55 µs CPU per read,
// half 359k at 2.76 µs, three quarters 377k at 2.62 µs. A round is not idle waiting: it
// costs about as much CPU (~55 µs: quic-go ~30, the three drivers ~16,
// netquic ~8, from a profile of 32k rounds) as it takes (~36 µs on an idle
// machine), so on two cores overlapping it with serving takes CPU from the
// readers, and every extra round is paid from the same cores.
type readBatch struct {
	id    uint64
	done  chan struct{} // closed once index or err is set
	index uint64
	err   error
	// Guarded by waiters.mu: members counts the readers that joined and
	// have not left; answered is set when done is closed.
	members  int
	answered bool
}

// joinRead adds a read to a batch. submit says the caller must hand
// engine.Read{ID: b.id} to the driver (or fail it with readDone);
// otherwise the batch goes to the engine when the one in flight ends
// (readDone or leaveRead returns it). The caller must call leaveRead once
// it stops waiting for b.done.
func (w *waiters) joinRead() (b *readBatch, submit bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b = w.openRead; b != nil {
		b.members++
		return b, false
	}
	w.nextID++
	b = &readBatch{id: w.nextID, done: make(chan struct{}), members: 1}
	w.reads[b.id] = b
	if w.readInFlight == nil {
		w.readInFlight = b
		return b, true
	}
	w.openRead = b
	return b, false
}

// leaveRead records that a member of b stopped waiting (answered, or its
// ctx ended). When it is the last member of the answered batch in flight,
// the open batch takes its place and is returned: the caller must hand its
// Read to the engine (or fail it).
func (w *waiters) leaveRead(b *readBatch) (next *readBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b.members--
	if b.members > 0 || !b.answered || b != w.readInFlight {
		return nil
	}
	return w.advanceReads()
}

// advanceReads retires the answered batch in flight: the open batch, if
// any member is still waiting in it, takes its place and is returned.
// An open batch whose members all left (their ctx ended) is dropped
// without costing a round.
func (w *waiters) advanceReads() *readBatch {
	next := w.openRead
	w.readInFlight, w.openRead = nil, nil
	if next == nil {
		return nil
	}
	if next.members == 0 {
		w.finishRead(next, 0, ErrTimeout)
		return nil
	}
	w.readInFlight = next
	return next
}

// accepted moves a proposal to its (term, index) key. A waiter already at
// that index belongs to an entry that was overwritten: it fails. now is
// when the driver appended it.
func (w *waiters) accepted(id, term, index uint64, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pw := w.byID[id]
	if pw == nil {
		return
	}
	delete(w.byID, id)
	if old := w.byIndex[index]; old != nil {
		old.ch <- result{err: ErrDropped}
	}
	pw.term, pw.index, pw.accepted = term, index, now
	w.byIndex[index] = pw
}

// failProposal fails a proposal that was never appended.
func (w *waiters) failProposal(id uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pw := w.byID[id]; pw != nil {
		delete(w.byID, id)
		pw.ch <- result{err: err}
	}
}

// appliedEntry records that the entry (term, index) is applied and
// delivers its result to its waiter; committed and applied are when the
// driver saw the entry committed and when it was applied. The applied
// index moves before the waiter hears, so a caller whose write returned
// sees Applied at or beyond it; watchers of the applied index are woken
// by setApplied, once per batch.
func (w *waiters) appliedEntry(term, index uint64, data []byte, committed, applied time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = index
	w.appliedFast.Store(index)
	pw := w.byIndex[index]
	if pw == nil {
		return
	}
	delete(w.byIndex, index)
	if pw.term == term {
		pw.ch <- result{data: data, index: index, accepted: pw.accepted, committed: committed, applied: applied}
	} else {
		pw.ch <- result{err: ErrDropped}
	}
}

// restoredTo fails every accepted proposal at or below index: a snapshot
// replaced the entries, so their results are unknown here.
func (w *waiters) restoredTo(index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, pw := range w.byIndex {
		if i <= index {
			delete(w.byIndex, i)
			pw.ch <- result{err: ErrUnknownOutcome}
		}
	}
}

// readDone hands a read batch its read index, or its error. When the batch
// in flight ends and none of its members is still waiting, the open batch
// (if any) takes its place and is returned: the caller must hand its Read
// to the engine (or fail it). Otherwise the last member to leave
// (leaveRead) hands it on.
func (w *waiters) readDone(id uint64, index uint64, err error) (next *readBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.reads[id]
	if b == nil {
		return nil
	}
	w.finishRead(b, index, err)
	if b != w.readInFlight || b.members > 0 {
		return nil
	}
	return w.advanceReads()
}

func (w *waiters) finishRead(b *readBatch, index uint64, err error) {
	delete(w.reads, b.id)
	b.index, b.err = index, err
	b.answered = true
	close(b.done)
}

// setApplied records the applied index and wakes watchers it satisfies.
func (w *waiters) setApplied(index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = index
	w.appliedFast.Store(index)
	n := 0
	for _, aw := range w.watchers {
		if aw.index <= index {
			close(aw.ch)
		} else {
			w.watchers[n] = aw
			n++
		}
	}
	clear(w.watchers[n:])
	w.watchers = w.watchers[:n]
}

// waitApplied blocks until applied ≥ index, ctx ends or done closes.
func (w *waiters) waitApplied(ctx context.Context, index uint64, done <-chan struct{}) error {
	ch, cancel := w.appliedCh(index)
	defer cancel()
	select {
	case <-ch:
		// Already applied: success even if ctx has ended.
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	}
}

// appliedCh returns a channel closed once applied ≥ index, and a cancel
// function that forgets the watcher of a caller that stopped waiting.
func (w *waiters) appliedCh(index uint64) (<-chan struct{}, func()) {
	if w.appliedFast.Load() >= index {
		return closedCh, func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.applied >= index {
		return closedCh, func() {}
	}
	ch := make(chan struct{})
	w.watchers = append(w.watchers, appliedWatcher{index: index, ch: ch})
	return ch, func() {
		w.mu.Lock()
		w.watchers = slices.DeleteFunc(w.watchers, func(aw appliedWatcher) bool { return aw.ch == ch })
		w.mu.Unlock()
	}
}

// closedCh is a closed channel: the wait of an index already applied.
var closedCh = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// failAll fails every waiter (on Close).
func (w *waiters) failAll(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, pw := range w.byID {
		delete(w.byID, id)
		pw.ch <- result{err: err}
	}
	for i, pw := range w.byIndex {
		delete(w.byIndex, i)
		pw.ch <- result{err: err}
	}
	for _, b := range w.reads {
		w.finishRead(b, 0, err)
	}
	w.readInFlight, w.openRead = nil, nil
}
