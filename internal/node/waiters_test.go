package node

import (
	"context"
	"errors"
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
// (its read index is chosen after all of them arrived); every member of a
// batch gets its result.
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
	if next := w.readDone(b1.id, 7, nil); next != b2 {
		t.Fatalf("answer to b1 handed on %v, want b2", next)
	}
	<-b1.done
	if b1.index != 7 || b1.err != nil {
		t.Fatalf("b1: index %d err %v, want 7, nil", b1.index, b1.err)
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
	if next := w.readDone(b2.id, 0, ErrBusy); next != b3 {
		t.Fatalf("failure of b2 handed on %v, want b3", next)
	}
	<-b2.done
	if !errors.Is(b2.err, ErrBusy) {
		t.Fatalf("b2: err %v, want ErrBusy", b2.err)
	}
	if next := w.readDone(b3.id, 8, nil); next != nil {
		t.Fatalf("answer to b3 with nothing open handed on %v", next)
	}
	if b4, submit := w.joinRead(); !submit || b4 == b3 {
		t.Fatalf("read with nothing in flight: batch %d submit %v, want a new batch to submit", b4.id, submit)
	}
}
