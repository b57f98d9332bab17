package yggr

import (
	"context"
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
