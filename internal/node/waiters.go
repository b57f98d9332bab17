package node

import (
	"context"
	"slices"
	"sync"
)

// result is what a proposal or read waiter receives.
type result struct {
	data  []byte
	index uint64
	err   error
}

// proposalWaiter waits for one proposal. It is keyed by its proposal ID
// until the leader accepts it, then by (term, index): if the entry applied
// at index has another term, the proposal was overwritten and fails with
// ErrDropped rather than receiving another client's result.
type proposalWaiter struct {
	ch          chan result // buffered 1; receives exactly one result
	term, index uint64
}

// waiters is the registry shared by callers, the driver and the apply
// goroutine.
type waiters struct {
	mu      sync.Mutex
	nextID  uint64
	byID    map[uint64]*proposalWaiter // proposals not yet accepted
	byIndex map[uint64]*proposalWaiter // accepted proposals
	reads   map[uint64]chan result     // reads waiting for a read index

	// applied watchers: closed once applied ≥ index.
	applied  uint64
	watchers []appliedWatcher
}

type appliedWatcher struct {
	index uint64
	ch    chan struct{}
}

func newWaiters() *waiters {
	return &waiters{byID: map[uint64]*proposalWaiter{}, byIndex: map[uint64]*proposalWaiter{}, reads: map[uint64]chan result{}}
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

// newRead registers a read waiter and returns its ID.
func (w *waiters) newRead() (uint64, chan result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	ch := make(chan result, 1)
	w.reads[w.nextID] = ch
	return w.nextID, ch
}

// accepted moves a proposal to its (term, index) key. A waiter already at
// that index belongs to an entry that was overwritten: it fails.
func (w *waiters) accepted(id, term, index uint64) {
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
	pw.term, pw.index = term, index
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

// applied delivers the result of the entry (term, index) to its waiter.
func (w *waiters) appliedEntry(term, index uint64, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pw := w.byIndex[index]
	if pw == nil {
		return
	}
	delete(w.byIndex, index)
	if pw.term == term {
		pw.ch <- result{data: data, index: index}
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

// readReady hands a read its read index.
func (w *waiters) readDone(id uint64, index uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch := w.reads[id]; ch != nil {
		delete(w.reads, id)
		ch <- result{index: index, err: err}
	}
}

// setApplied records the applied index and wakes watchers it satisfies.
func (w *waiters) setApplied(index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = index
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
	w.mu.Lock()
	if w.applied >= index {
		w.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	w.watchers = append(w.watchers, appliedWatcher{index: index, ch: ch})
	w.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		w.watchers = slices.DeleteFunc(w.watchers, func(aw appliedWatcher) bool { return aw.ch == ch })
		w.mu.Unlock()
		return ctx.Err()
	case <-done:
		return ErrClosed
	}
}

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
	for id, ch := range w.reads {
		delete(w.reads, id)
		ch <- result{err: err}
	}
}
