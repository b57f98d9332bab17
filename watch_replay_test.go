package yggr

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// Regression: a replay held the node's replay slot while it yielded, so a
// consumer that stopped reading in the middle of a replay held up every
// other watch that needed the log on that node (found while reviewing
// replay for the stuck-watcher test; this test timed out with 0 of 20
// changes for the second watcher). Now a replay lets go of the slot
// before it yields.
func TestStuckReplayDoesNotHoldUpOtherReplays(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithWatchCache(1)) // every watch from the past replays
	for i := range 20 {
		if err := db.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	stuck := make(chan struct{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range db.Watch(wctx, nil, nil, FromRevision(1)) {
			close(stuck)
			<-wctx.Done() // never reads again, in the middle of its replay
			return
		}
	}()
	<-stuck
	got := nextEvents(t, startWatch(t, ctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, nil, nil, FromRevision(1)) }), 20)
	lt := newLogTruth()
	if err := lt.extend(db); err != nil {
		t.Fatal(err)
	}
	checkWatcher(t, "second watcher", lt, keyRange{}, 1, false, asSeen(got))
	cancel()
	<-done
}

// A replay longer than one step (replayYieldBytes of changes) goes on
// from where the step ended, rebuilt anew: nothing missing, nothing twice.
func TestReplayInSteps(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithWatchCache(1))
	value := make([]byte, 8<<10)
	const puts = 3 * replayYieldBytes / (8 << 10) // three steps and more
	for i := range puts {
		value[0] = byte(i)
		if err := db.Put(ctx, fmt.Appendf(nil, "k%02d", i%50), value); err != nil {
			t.Fatal(err)
		}
	}
	lt := newLogTruth()
	if err := lt.extend(db); err != nil {
		t.Fatal(err)
	}
	r := keyRange{[]byte("k1"), []byte("k3")}
	got := nextEvents(t, startWatch(t, ctx, func(ctx context.Context) watchSeq {
		return db.Watch(ctx, r.start, r.end, FromRevision(1), WithPrevItem())
	}), puts*20/50)
	if pos := checkWatcher(t, "replay in steps", lt, r, 1, true, asSeen(got)); pos < lt.end()-50 {
		t.Fatalf("complete through %d, want the last change in range (the log ends at %d)", pos, lt.end())
	}
}

// A replay whose reads fail because the database closed under it ends the
// watch with ErrClosed, as Watch promises, not with the log's own "store
// is closed" (TestWatchChaos under a CPU hog, 1 run in 20: Close closes the
// hub, then the node and its log, while a replay reads the log).
func TestReplayAfterCloseEndsWithErrClosed(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithWatchCache(1)) // a watch from the past replays
	for i := range 20 {
		if err := db.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	w, err := db.hub.Watch(nil, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// What the watch's loop does next: replay from its revision.
	more, err := db.replay(ctx, w, 1, watchOptions{}, func(Change, error) bool { return true })
	if !more || !errors.Is(watchError(err), ErrClosed) {
		t.Fatalf("replay on a closed database: more %v, %v; want ErrClosed", more, err)
	}
}
