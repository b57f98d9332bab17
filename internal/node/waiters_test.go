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
	w.accepted(id, 2, 7) // appended at 2/7 by an old leader
	w.appliedEntry(3, 7, []byte("someone else's result"))
	r := recv(t, pw.ch)
	if !errors.Is(r.err, ErrDropped) || r.data != nil {
		t.Fatalf("got %+v, want ErrDropped and no data", r)
	}
}

func TestProposalGetsItsResult(t *testing.T) {
	w := newWaiters()
	id, pw := w.newProposal()
	w.accepted(id, 2, 7)
	w.appliedEntry(2, 6, []byte("other")) // another index: not ours
	w.appliedEntry(2, 7, []byte("mine"))
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
	w.accepted(id1, 2, 7)
	w.accepted(id2, 3, 7)
	if r := recv(t, pw1.ch); !errors.Is(r.err, ErrDropped) {
		t.Fatalf("first waiter got %+v, want ErrDropped", r)
	}
	w.appliedEntry(3, 7, []byte("second"))
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
	w.accepted(id2, 1, 5)
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
	w.accepted(id2, 1, 1)
	_, rd := w.newRead()
	w.failAll(ErrClosed)
	for _, ch := range []chan result{p1.ch, p2.ch, rd} {
		if r := recv(t, ch); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("got %+v, want ErrClosed", r)
		}
	}
}

func TestIncarnationCountsStarts(t *testing.T) {
	dir := t.TempDir()
	for want := uint64(1); want <= 3; want++ {
		got, err := nextIncarnation(dir)
		if err != nil || got != want {
			t.Fatalf("start %d: incarnation %d, %v", want, got, err)
		}
	}
}
