package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func recv(t *testing.T, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("waiter never answered")
		return result{}
	}
}

// An entry overwritten by another leader fails its proposer with
// ErrDropped; it never receives the other entry's result (REFERENCE.md
// trap 5).
func TestOverwrittenProposalFails(t *testing.T) {
	w := newWaiters()
	id, pw := w.newProposal()
	w.accepted(id, 2, 7, time.Time{}) // appended at 2/7 by an old leader
	w.appliedEntry(3, 7, []byte("someone else's result"), time.Time{}, time.Time{})
	r := recv(t, pw.ch)
	if !errors.Is(r.err, ErrDropped) || r.data != nil {
		t.Fatalf("got %+v, want ErrDropped and no data", r)
	}
}

func TestProposalGetsItsResult(t *testing.T) {
	w := newWaiters()
	id, pw := w.newProposal()
	w.accepted(id, 2, 7, time.Time{})
	w.appliedEntry(2, 6, []byte("other"), time.Time{}, time.Time{}) // another index: not ours
	w.appliedEntry(2, 7, []byte("mine"), time.Time{}, time.Time{})
	if r := recv(t, pw.ch); r.err != nil || string(r.data) != "mine" || r.index != 7 {
		t.Fatalf("got %+v, want mine at 7", r)
	}
}

// A proposer that got its result sees the applied index at or beyond its
// entry, though the rest of the batch is still being applied (the race
// detector found a watch test reading the applied index right after a
// write returned, and finding it one batch behind).
func TestResultAfterAppliedIndex(t *testing.T) {
	w := newWaiters()
	id, pw := w.newProposal()
	w.accepted(id, 2, 7, time.Time{})
	w.appliedEntry(2, 7, []byte("mine"), time.Time{}, time.Time{}) // the batch goes on to 9
	recv(t, pw.ch)
	if got := w.appliedFast.Load(); got != 7 {
		t.Fatalf("applied %d after the result of 7", got)
	}
	if err := w.waitApplied(context.Background(), 7, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
}

// A second proposal accepted at the same index (after the first entry was
// truncated) fails the first.
func TestReacceptedIndexFailsOldWaiter(t *testing.T) {
	w := newWaiters()
	id1, pw1 := w.newProposal()
	id2, pw2 := w.newProposal()
	w.accepted(id1, 2, 7, time.Time{})
	w.accepted(id2, 3, 7, time.Time{})
	if r := recv(t, pw1.ch); !errors.Is(r.err, ErrDropped) {
		t.Fatalf("first waiter got %+v, want ErrDropped", r)
	}
	w.appliedEntry(3, 7, []byte("second"), time.Time{}, time.Time{})
	if r := recv(t, pw2.ch); string(r.data) != "second" {
		t.Fatalf("second waiter got %+v", r)
	}
}

func TestRejectedAndRestoredProposals(t *testing.T) {
	w := newWaiters()
	id1, pw1 := w.newProposal()
	w.failProposal(id1, ErrBusy)
	if r := recv(t, pw1.ch); !errors.Is(r.err, ErrBusy) {
		t.Fatalf("got %+v, want ErrBusy", r)
	}
	id2, pw2 := w.newProposal()
	w.accepted(id2, 1, 5, time.Time{})
	w.restoredTo(10)
	if r := recv(t, pw2.ch); !errors.Is(r.err, ErrUnknownOutcome) {
		t.Fatalf("got %+v, want ErrUnknownOutcome", r)
	}
}

func TestWaitApplied(t *testing.T) {
	w := newWaiters()
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- w.waitApplied(context.Background(), 5, done) }()
	w.setApplied(4)
	select {
	case err := <-errc:
		t.Fatalf("returned at applied 4: %v", err)
	default:
	}
	w.setApplied(5)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.waitApplied(ctx, 9, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if len(w.watchers) != 0 {
		t.Fatalf("cancelled watcher left behind: %d", len(w.watchers))
	}
	close(done)
	if err := w.waitApplied(context.Background(), 9, done); !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after close: %v", err)
	}
}

func TestFailAll(t *testing.T) {
	w := newWaiters()
	_, p1 := w.newProposal()
	id2, p2 := w.newProposal()
	w.accepted(id2, 1, 1, time.Time{})
	rd, _ := w.joinRead()
	w.failAll(ErrClosed)
	for _, ch := range []chan result{p1.ch, p2.ch} {
		if r := recv(t, ch); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("got %+v, want ErrClosed", r)
		}
	}
	<-rd.done
	if !errors.Is(rd.err, ErrClosed) {
		t.Fatalf("read batch: got %v, want ErrClosed", rd.err)
	}
}

// TestReadBatches: one batch is in the engine at a time; reads arriving
// meanwhile share the open batch, which takes its place when it is answered
// and its members have left (its read index is chosen after all of them
// arrived); every member of a batch gets its result.
func TestReadBatches(t *testing.T) {
	w := newWaiters()
	b1, submit := w.joinRead()
	if !submit {
		t.Fatal("first read: submit false, want true")
	}
	b2, submit := w.joinRead()
	if b2 == b1 || submit {
		t.Fatalf("read while b1 in flight: batch %d submit %v, want a new batch, not submitted", b2.id, submit)
	}
	if b, submit := w.joinRead(); b != b2 || submit {
		t.Fatalf("third read: batch %d submit %v, want batch %d, not submitted", b.id, submit, b2.id)
	}
	if next := w.readDone(b1.id, 7, nil); next != nil {
		t.Fatalf("answer to b1 handed on %v while its reader waits, want nil", next)
	}
	<-b1.done
	if b1.index != 7 || b1.err != nil {
		t.Fatalf("b1: index %d err %v, want 7, nil", b1.index, b1.err)
	}
	// b1's reader comes back before it leaves (another goroutine of a
	// closed loop): it joins b2, which is not in the engine yet.
	if b, submit := w.joinRead(); b != b2 || submit {
		t.Fatalf("read while b1 drains: batch %d submit %v, want batch %d, not submitted", b.id, submit, b2.id)
	}
	if next := w.leaveRead(b1); next != b2 {
		t.Fatalf("last reader of b1 left and handed on %v, want b2", next)
	}
	select {
	case <-b2.done:
		t.Fatal("b2 done before its Read was answered")
	default:
	}
	// b2 is in flight now: a new read opens b3.
	b3, submit := w.joinRead()
	if b3 == b2 || submit {
		t.Fatalf("read while b2 in flight: batch %d submit %v, want a new batch, not submitted", b3.id, submit)
	}
	if next := w.readDone(b1.id, 9, nil); next != nil || b1.index != 7 {
		t.Fatalf("duplicate answer to b1: handed on %v, index %d; want nil, 7", next, b1.index)
	}
	// b2's three readers leave before it is answered (their ctx ended):
	// the failure hands b3 on at once.
	for range 3 {
		if next := w.leaveRead(b2); next != nil {
			t.Fatalf("reader left unanswered b2 and handed on %v, want nil", next)
		}
	}
	if next := w.readDone(b2.id, 0, ErrBusy); next != b3 {
		t.Fatalf("failure of b2 handed on %v, want b3", next)
	}
	<-b2.done
	if !errors.Is(b2.err, ErrBusy) {
		t.Fatalf("b2: err %v, want ErrBusy", b2.err)
	}
	if next := w.readDone(b3.id, 8, nil); next != nil {
		t.Fatalf("answer to b3 while its reader waits handed on %v", next)
	}
	if next := w.leaveRead(b3); next != nil {
		t.Fatalf("answer to b3 with nothing open handed on %v", next)
	}
	if b4, submit := w.joinRead(); !submit || b4 == b3 {
		t.Fatalf("read with nothing in flight: batch %d submit %v, want a new batch to submit", b4.id, submit)
	}
}

// An open batch whose readers all left before it reached the engine is
// dropped, not sent: it would cost a round for nobody.
func TestAbandonedReadBatchNotSent(t *testing.T) {
	w := newWaiters()
	b1, _ := w.joinRead()
	b2, _ := w.joinRead()
	if next := w.leaveRead(b2); next != nil {
		t.Fatalf("reader left open b2 and handed on %v, want nil", next)
	}
	w.readDone(b1.id, 3, nil)
	if next := w.leaveRead(b1); next != nil {
		t.Fatalf("b1 handed on %v, want nil (b2 has no reader)", next)
	}
	<-b2.done
	if len(w.reads) != 0 || w.readInFlight != nil || w.openRead != nil {
		t.Fatalf("left %d batches, in flight %v, open %v; want none", len(w.reads), w.readInFlight, w.openRead)
	}
	if b3, submit := w.joinRead(); !submit || b3 == b2 {
		t.Fatalf("next read: batch %d submit %v, want a new batch to submit", b3.id, submit)
	}
}

// TestReadBatchesConcurrent runs the batch protocol of Node.ReadIndex
// (join, wait, leave, hand on) from many goroutines against a driver that
// answers each batch it receives, some readers giving up early: every read
// ends, nothing is left behind, and at most one batch is in the engine at a
// time.
func TestReadBatchesConcurrent(t *testing.T) {
	w := newWaiters()
	engine := make(chan *readBatch, 1024)
	var inEngine atomic.Int32
	driverDone := make(chan struct{})
	var rounds atomic.Int64
	go func() { // the fake driver; ends when engine is closed
		defer close(driverDone)
		for b := range engine {
			if n := inEngine.Add(1); n != 1 {
				t.Errorf("%d batches in the engine", n)
			}
			round := rounds.Add(1)
			inEngine.Add(-1)
			if next := w.readDone(b.id, uint64(round), nil); next != nil {
				engine <- next
			}
		}
	}()
	const readers, reads = 64, 300
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range reads {
				ctx, cancel := context.WithCancel(context.Background())
				if (r+i)%7 == 0 {
					cancel() // gives up at once, maybe before its batch is answered
				}
				b, submit := w.joinRead()
				if submit {
					engine <- b
				}
				select {
				case <-b.done:
				case <-ctx.Done():
				}
				cancel()
				if next := w.leaveRead(b); next != nil {
					engine <- next
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("readers still waiting after 30s: a batch was never handed on")
	}
	close(engine)
	<-driverDone
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.readInFlight != nil && !w.readInFlight.answered || w.openRead != nil {
		t.Fatalf("left in flight %+v, open %+v", w.readInFlight, w.openRead)
	}
	t.Logf("%d reads in %d rounds", readers*reads, rounds.Load())
}
