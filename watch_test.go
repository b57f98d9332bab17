package yggr

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

type watchSeq = iter.Seq2[Change, error]

// watched is what a watch yielded, for tests.
type watched struct {
	c   Change
	err error
}

// startWatch runs the watch watch(ctx) on its own goroutine until ctx
// ends, the watch ends, or the test ends, and returns what it yields.
func startWatch(t *testing.T, ctx context.Context, watch func(context.Context) iter.Seq2[Change, error]) <-chan watched {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	seq := watch(ctx)
	out := make(chan watched, 1<<16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for c, err := range seq {
			select {
			case out <- watched{c, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// nextChanges receives changes (skipping progress notifications) until it
// has n events, or fails the test at the deadline.
func nextEvents(t *testing.T, ch <-chan watched, n int) []Change {
	t.Helper()
	var got []Change
	events := 0
	deadline := time.After(20 * time.Second)
	for events < n {
		select {
		case w, ok := <-ch:
			if !ok {
				t.Fatalf("the watch ended after %d of %d events", events, n)
			}
			if w.err != nil {
				t.Fatalf("the watch failed after %d of %d events: %v", events, n, w.err)
			}
			if !w.c.IsProgress() {
				got = append(got, w.c)
				events += len(w.c.Events)
			}
		case <-deadline:
			t.Fatalf("got %d of %d events before the deadline: %v", events, n, describe(got))
		}
	}
	return got
}

// describe renders changes as "rev:put k=v,delete k" lines.
func describe(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%d:", c.Revision)
		for i, e := range c.Events {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s %s", e.Type, e.Item.Key)
			if e.Type == EventPut {
				fmt.Fprintf(&b, "=%s", e.Item.Value)
			}
			if e.Prev != nil {
				fmt.Fprintf(&b, " (was %s)", e.Prev.Value)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func openSingle(t *testing.T, opts ...Option) *DB {
	t.Helper()
	db, err := Open(t.TempDir(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestWatchYieldsChangesInRange(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	p := []byte("app/")
	ch := startWatch(t, ctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, p, PrefixEnd(p), WithPrevItem()) })
	put := func(k, v string) uint64 {
		i, err := db.PutIndex(ctx, []byte(k), []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	r1 := put("app/a", "1")
	put("other", "x") // outside the range
	r2 := put("app/a", "2")
	if err := db.Delete(ctx, []byte("app/a")); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, []byte("app/missing")); err != nil { // no change, no event
		t.Fatal(err)
	}
	res, err := db.Txn(ctx, Txn{Then: []Request{
		{Op: OpPut, Key: []byte("app/b"), Value: []byte("b")},
		{Op: OpPut, Key: []byte("zzz"), Value: []byte("out")},
		{Op: OpPut, Key: []byte("app/c"), Value: []byte("c")},
		{Op: OpGet, Key: []byte("app/b")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := nextEvents(t, ch, 5)
	want := fmt.Sprintf("%d:put app/a=1\n%d:put app/a=2 (was 1)\n%d:delete app/a (was 2)\n%d:put app/b=b,put app/c=c\n",
		r1, r2, r2+1, res.Index)
	if describe(got) != want {
		t.Fatalf("watch yielded\n%swant\n%s", describe(got), want)
	}
	a := got[1].Events[0].Item
	if a.CreateIndex != r1 || a.ModIndex != r2 || a.Version != 2 {
		t.Errorf("put app/a=2: item %+v, want CreateIndex %d ModIndex %d Version 2", a, r1, r2)
	}
	if d := got[2].Events[0].Item; d.ModIndex != r2+1 || d.Value != nil {
		t.Errorf("delete: item %+v, want ModIndex %d and no value", d, r2+1)
	}
}

func TestWatchWithoutPrevItem(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	ch := startWatch(t, ctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, []byte("k"), nil) })
	for _, v := range []string{"1", "2"} {
		if err := db.Put(ctx, []byte("k"), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := nextEvents(t, ch, 2); got[1].Events[0].Prev != nil {
		t.Errorf("Prev set without WithPrevItem: %+v", got[1].Events[0].Prev)
	}
}

// List, then watch from the list's revision + 1: the watcher sees exactly
// the changes after the list, however the two interleave with writers.
func TestListThenWatch(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	p := []byte("svc/")
	for i := range 10 {
		if err := db.Put(ctx, fmt.Appendf(nil, "svc/%02d", i), []byte("v0")); err != nil {
			t.Fatal(err)
		}
	}
	writes := make(chan error, 1)
	go func() {
		for i := range 50 {
			if err := db.Put(ctx, fmt.Appendf(nil, "svc/%02d", i%10), fmt.Appendf(nil, "v%d", i+1)); err != nil {
				writes <- err
				return
			}
		}
		writes <- nil
	}()
	var rev uint64
	items, _, err := db.List(ctx, p, PrefixEnd(p), 0, ReadRevision(&rev))
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, it := range items {
		state[string(it.Key)] = string(it.Value)
		if it.ModIndex > rev {
			t.Fatalf("item %s modified at %d, after the read's revision %d", it.Key, it.ModIndex, rev)
		}
	}
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	ch := startWatch(t, ctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, p, PrefixEnd(p), FromRevision(rev+1)) })
	var last uint64
	if err := db.node.WaitApplied(ctx, 1); err != nil {
		t.Fatal(err)
	}
	end := db.node.Applied()
	for last < end {
		for _, c := range nextEvents(t, ch, 1) {
			if c.Revision <= last || c.Revision <= rev {
				t.Fatalf("revision %d after %d (list at %d): out of order or repeated", c.Revision, last, rev)
			}
			last = c.Revision
			for _, e := range c.Events {
				state[string(e.Item.Key)] = string(e.Item.Value)
			}
		}
	}
	want := map[string]string{}
	for it, err := range db.Scan(ctx, p, PrefixEnd(p)) {
		if err != nil {
			t.Fatal(err)
		}
		want[string(it.Key)] = string(it.Value)
	}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Fatalf("list + watch = %v, want %v", state, want)
	}
}

// A watch resumed from the last revision seen + 1 continues with no gap
// and no duplicate, from the cache and from the log alike.
func TestWatchResumes(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"from the cache", nil},
		{"from the log", []Option{WithWatchCache(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			db := openSingle(t, c.opts...)
			var revs []uint64
			for i := range 30 {
				r, err := db.PutIndex(ctx, []byte("k"), fmt.Append(nil, i))
				if err != nil {
					t.Fatal(err)
				}
				revs = append(revs, r)
			}
			for _, from := range []int{0, 1, 17, 29} {
				wctx, cancel := context.WithCancel(ctx)
				got := nextEvents(t, startWatch(t, wctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, []byte("k"), nil, FromRevision(revs[from])) }), 30-from)
				cancel()
				for i, ch := range got {
					if ch.Revision != revs[from+i] || string(ch.Events[0].Item.Value) != fmt.Sprint(from+i) {
						t.Fatalf("from %d: change %d = %s, want revision %d value %d", revs[from], i, describe([]Change{ch}), revs[from+i], from+i)
					}
				}
			}
		})
	}
}

// A watch from a revision older than the node's history ends with a
// *CompactedError naming the oldest revision available, and a watch from
// there works.
func TestWatchCompacted(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithWatchCache(1), withEngine(func(e *engine.Config) {
		e.SnapshotEntries, e.CompactionKeep, e.MaxLogEntries = 10, 1, 2
	}))
	for i := range 100 {
		if err := db.Put(ctx, []byte("k"), fmt.Append(nil, i)); err != nil {
			t.Fatal(err)
		}
	}
	var cerr *CompactedError
	waitFor(t, "the log to be compacted", func() bool {
		for _, err := range db.Watch(ctx, []byte("k"), nil, FromRevision(1)) {
			return errors.As(err, &cerr)
		}
		return false
	})
	if !errors.Is(cerr, ErrCompacted) || cerr.Requested != 1 || cerr.Oldest <= 1 {
		t.Fatalf("watch from 1: %v, want a CompactedError from 1 with a later oldest revision", cerr)
	}
	if err := db.Put(ctx, []byte("k"), []byte("last")); err != nil {
		t.Fatal(err)
	}
	// Snapshots and compactions taken for the first writes may still be
	// under way (they run off the driver): a watch from the oldest revision
	// may find it compacted meanwhile, with a later oldest revision (as
	// OldestRevision documents). Anything else fails the test.
	oldest := cerr.Oldest
	waitFor(t, "a watch from the oldest revision to yield", func() bool {
		for c, err := range db.Watch(ctx, []byte("k"), nil, FromRevision(oldest)) {
			var later *CompactedError
			if errors.As(err, &later) && later.Oldest > oldest {
				oldest = later.Oldest // compacted meanwhile: try from there
				return false
			}
			if err != nil || c.Revision < oldest {
				t.Fatalf("watch from the oldest revision %d yielded %+v, %v", oldest, c, err)
			}
			return true
		}
		t.Fatal("the watch from the oldest revision ended without a change")
		return false
	})
}

func TestWatchProgressNotify(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	r, err := db.PutIndex(ctx, []byte("elsewhere"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ch := startWatch(t, ctx, func(ctx context.Context) watchSeq {
		return db.Watch(ctx, []byte("quiet/"), PrefixEnd([]byte("quiet/")), WithProgressNotify(10*time.Millisecond))
	})
	select {
	case w := <-ch:
		if w.err != nil || !w.c.IsProgress() || w.c.Revision < r {
			t.Fatalf("first yield on a quiet range: %+v, %v; want a progress notification at ≥ %d", w.c, w.err, r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no progress notification")
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := startWatch(t, ctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, nil, nil) })
	db.Close()
	select {
	case w := <-ch:
		if !errors.Is(w.err, ErrClosed) {
			t.Fatalf("watch on a closed database yielded %+v, %v; want ErrClosed", w.c, w.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the watch did not end when the database closed")
	}
}

func TestWatchRejectsEmptyRange(t *testing.T) {
	db := openSingle(t)
	for _, err := range db.Watch(testCtx(t), []byte("b"), []byte("a")) {
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("watch [b, a): %v, want ErrInvalid", err)
		}
		return
	}
	t.Fatal("watch [b, a) yielded nothing")
}

// A consumer that never reads does not hold writes up, and the changes
// waiting for it stay within the buffer.
func TestSlowWatcherDoesNotBlockWrites(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithWatchBuffer(4<<10), WithWatchCache(16<<10))
	next, stop := iter.Pull2(db.Watch(ctx, nil, nil))
	defer stop()
	value := make([]byte, 100)
	for i := range 2000 {
		if err := db.Put(ctx, fmt.Appendf(nil, "k%04d", i%100), value); err != nil {
			t.Fatal(err)
		}
	}
	if s := db.hub.Stats(); s.CacheBytes > 16<<10 {
		t.Errorf("cache holds %d bytes, over its bound", s.CacheBytes)
	}
	// It catches up, in order, with every change.
	var last uint64
	for range 2000 {
		c, err, ok := next()
		if !ok || err != nil {
			t.Fatalf("the watch ended: %v", err)
		}
		if c.Revision <= last {
			t.Fatalf("revision %d after %d", c.Revision, last)
		}
		last = c.Revision
	}
}

// OldestRevision is where a watch can start: from it a watch works, from
// before it the watch ends with a *CompactedError.
func TestOldestRevision(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithWatchCache(1), withEngine(func(e *engine.Config) {
		e.SnapshotEntries, e.CompactionKeep, e.MaxLogEntries = 10, 1, 2
	}))
	if got := db.OldestRevision(); got != 1 {
		t.Fatalf("OldestRevision of a new database = %d, want 1", got)
	}
	for i := range 100 {
		if err := db.Put(ctx, []byte("k"), fmt.Append(nil, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the log to be compacted", func() bool { return db.OldestRevision() > 1 })
	if err := db.Put(ctx, []byte("k"), []byte("last")); err != nil {
		t.Fatal(err)
	}
	// Snapshots and compactions may still be under way: until they settle,
	// a watch from OldestRevision may find it compacted by then, with a
	// later oldest revision.
	var oldest uint64
	waitFor(t, "a watch from OldestRevision to start", func() bool {
		oldest = db.OldestRevision()
		for _, err := range db.Watch(ctx, []byte("k"), nil, FromRevision(oldest-1)) {
			var cerr *CompactedError
			if !errors.As(err, &cerr) || cerr.Oldest < oldest {
				t.Fatalf("watch from %d (before OldestRevision %d): %v, want a CompactedError", oldest-1, oldest, err)
			}
			break
		}
		for c, err := range db.Watch(ctx, []byte("k"), nil, FromRevision(oldest)) {
			var cerr *CompactedError
			if errors.As(err, &cerr) && cerr.Oldest > oldest {
				return false // compacted meanwhile: try again
			}
			if err != nil || c.Revision < oldest {
				t.Fatalf("watch from OldestRevision %d yielded %+v, %v", oldest, c, err)
			}
			break
		}
		return true
	})
}

// WithWatchHistory keeps the snapshots and the log a watch needs to start
// that many revisions below the newest snapshot; without it the same
// writes leave a much shorter history.
func TestWatchHistory(t *testing.T) {
	const history = 200
	for _, tt := range []struct {
		name string
		opts []Option
		kept bool
	}{
		{"default", nil, false},
		{"WithWatchHistory", []Option{WithWatchHistory(history)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := append([]Option{WithWatchCache(1), withEngine(func(e *engine.Config) {
				e.SnapshotEntries, e.CompactionKeep, e.MaxLogEntries = 10, 1, 2
			})}, tt.opts...)
			db := openSingle(t, opts...)
			var revs []uint64
			for i := range 500 {
				rev, err := db.PutIndex(ctx, []byte("k"), fmt.Append(nil, i))
				if err != nil {
					t.Fatal(err)
				}
				revs = append(revs, rev)
			}
			// A last snapshot, after which none starts: the window is
			// measured from it. Once compaction has begun the oldest
			// revision is the oldest retained snapshot's + 1.
			snap, err := db.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the log to be compacted", func() bool { return db.OldestRevision() > 1 })
			oldest := db.OldestRevision()
			if got := oldest-1+history <= snap; got != tt.kept {
				t.Fatalf("oldest revision %d, newest snapshot %d: history of %d revisions kept = %v, want %v",
					oldest, snap, history, got, tt.kept)
			}
			// Every put from the oldest revision on is replayed, in order.
			want := revs[slices.IndexFunc(revs, func(r uint64) bool { return r >= oldest }):]
			var got []uint64
			for c, err := range db.Watch(ctx, []byte("k"), nil, FromRevision(oldest)) {
				if err != nil {
					t.Fatalf("watch from %d: %v", oldest, err)
				}
				got = append(got, c.Revision)
				if c.Revision >= revs[len(revs)-1] {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("watch from %d replayed %d revisions %v, want %d", oldest, len(got), got, len(want))
			}
		})
	}
}
