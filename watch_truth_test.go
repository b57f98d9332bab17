package yggr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"
)

// logTruth is the history of committed changes, derived from a node's
// Raft log independently of the watch: every normal entry, in index
// order, applied to a fresh store that records the events of each.
type logTruth struct {
	mu      sync.Mutex
	store   *kv.Store
	rec     []kv.Event
	next    uint64                // the next log index to read
	changes map[uint64][]kv.Event // by revision, only revisions with events
	revs    []uint64              // the keys of changes, ascending
}

func newLogTruth() *logTruth {
	lt := &logTruth{store: kv.New(), next: 1, changes: map[uint64][]kv.Event{}}
	lt.store.Record(&lt.rec)
	return lt
}

// extend reads db's log from the next unread index through what db has
// applied.
func (lt *logTruth) extend(db *DB) error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	applied := db.node.Applied()
	for range 1 << 20 {
		if lt.next > applied {
			return nil
		}
		es, err := db.node.History(lt.next, applied+1, 1<<20)
		if err != nil {
			return fmt.Errorf("truth from %s at %d: %w", db.ID(), lt.next, err)
		}
		if len(es) == 0 { // applied before its log write finished
			if err := db.node.StorageFailure(); err != nil {
				return fmt.Errorf("truth from %s at %d: the node stopped: %w", db.ID(), lt.next, err)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		for _, e := range es {
			if e.Index != lt.next {
				return fmt.Errorf("truth from %s: entry %d where %d was due", db.ID(), e.Index, lt.next)
			}
			if e.Type == engine.EntryNormal {
				lt.store.Apply(e.Index, e.Data)
			}
			if len(lt.rec) > 0 {
				lt.changes[e.Index] = lt.rec
				lt.revs = append(lt.revs, e.Index)
				lt.rec = nil
			}
			lt.next = e.Index + 1
		}
	}
	return errors.New("truth: too many batches")
}

// end is the last revision the truth covers.
func (lt *logTruth) end() uint64 {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.next - 1
}

// keyRange is a watched range [start, end), end nil: no bound.
type keyRange struct{ start, end []byte }

func (r keyRange) has(key string) bool {
	return key >= string(r.start) && (r.end == nil || key < string(r.end))
}

func (r keyRange) String() string { return fmt.Sprintf("[%q, %q)", r.start, r.end) }

// renderEvent renders an event with every field a watch yields.
func renderEvent(b *strings.Builder, typ EventType, it Item, prev *Item) {
	fmt.Fprintf(b, "%s %s", typ, it.Key)
	if typ == EventPut {
		fmt.Fprintf(b, "=%s c%d m%d v%d", it.Value, it.CreateIndex, it.ModIndex, it.Version)
	} else {
		fmt.Fprintf(b, " m%d", it.ModIndex)
	}
	if prev != nil {
		fmt.Fprintf(b, " (was %s c%d m%d v%d)", prev.Value, prev.CreateIndex, prev.ModIndex, prev.Version)
	}
	b.WriteString(";")
}

// renderChange renders what a watch yielded for one revision.
func renderChange(c Change) string {
	var b strings.Builder
	for _, e := range c.Events {
		renderEvent(&b, e.Type, e.Item, e.Prev)
	}
	return b.String()
}

// want renders the truth's events at revision rev in r, as a watch with
// or without WithPrevItem yields them ("" if none).
func (lt *logTruth) want(rev uint64, r keyRange, prev bool) string {
	var b strings.Builder
	for _, ev := range lt.changes[rev] {
		if !r.has(ev.Key()) {
			continue
		}
		typ := EventPut
		if ev.IsDelete() {
			typ = EventDelete
		}
		var p *Item
		if it, ok := ev.Prev(); ok && prev {
			p = &it
		}
		renderEvent(&b, typ, ev.Item(rev), p)
	}
	return b.String()
}

// firstIn returns the first revision in (after, through] with a change in
// r, or 0.
func (lt *logTruth) firstIn(after, through uint64, r keyRange) uint64 {
	i, _ := slices.BinarySearch(lt.revs, after+1)
	for ; i < len(lt.revs) && lt.revs[i] <= through; i++ {
		if lt.want(lt.revs[i], r, false) != "" {
			return lt.revs[i]
		}
	}
	return 0
}

// stateAt returns the items in r as of revision rev, rendered by key.
func (lt *logTruth) stateAt(rev uint64, r keyRange) map[string]string {
	state := map[string]string{}
	for _, rv := range lt.revs {
		if rv > rev {
			break
		}
		for _, ev := range lt.changes[rv] {
			if k := ev.Key(); r.has(k) {
				if ev.IsDelete() {
					delete(state, k)
				} else {
					it := ev.Item(rv)
					state[k] = fmt.Sprintf("%s c%d m%d v%d", it.Value, it.CreateIndex, it.ModIndex, it.Version)
				}
			}
		}
	}
	return state
}

// seen is one thing a watcher observed, in order.
type seen struct {
	change    Change // a change or a progress notification
	list      map[string]string
	listRev   uint64 // a list at this revision (list non-nil)
	compacted *CompactedError
}

// checkWatcher checks that what a watcher over r, which started at
// revision from (with WithPrevItem if prev), observed is exactly the
// truth: each change equal to the truth's at its revision, in revision
// order, none missing in between, none twice; each progress notification
// true; each list equal to the truth's state at its revision, and the
// watch going on from there; each compacted error for the revision after
// the last seen (or after revisions with no change in range). It returns the revision through which the watcher is
// complete.
func checkWatcher(t *testing.T, name string, lt *logTruth, r keyRange, from uint64, prev bool, obs []seen) uint64 {
	t.Helper()
	pos := from - 1
	fail := func(i int, format string, args ...any) {
		t.Helper()
		lo := max(0, i-3)
		var ctx strings.Builder
		for j := lo; j <= i && j < len(obs); j++ {
			o := obs[j]
			switch {
			case o.list != nil:
				fmt.Fprintf(&ctx, "  [%d] list at %d: %d items\n", j, o.listRev, len(o.list))
			case o.compacted != nil:
				fmt.Fprintf(&ctx, "  [%d] %v\n", j, o.compacted)
			case o.change.IsProgress():
				fmt.Fprintf(&ctx, "  [%d] progress %d\n", j, o.change.Revision)
			default:
				fmt.Fprintf(&ctx, "  [%d] %d: %s\n", j, o.change.Revision, renderChange(o.change))
			}
		}
		t.Fatalf("%s over %s from %d: observation %d: %s\n%s", name, r, from, i, fmt.Sprintf(format, args...), ctx.String())
	}
	end := lt.end()
	for i, o := range obs {
		switch {
		case o.compacted != nil:
			// The watch may have gone through revisions with no change in
			// range before it found the next one compacted.
			req := o.compacted.Requested
			if req <= pos || o.compacted.Oldest <= req {
				fail(i, "compacted error %v after revision %d", o.compacted, pos)
			}
			if m := lt.firstIn(pos, req-1, r); m != 0 {
				fail(i, "compacted error %v, but the change at %d was never yielded", o.compacted, m)
			}
		case o.list != nil:
			if o.listRev > end {
				fail(i, "list at %d, beyond the truth's %d", o.listRev, end)
			}
			if want := lt.stateAt(o.listRev, r); !maps.Equal(o.list, want) {
				fail(i, "list at %d:\n%v\nwant\n%v", o.listRev, o.list, want)
			}
			pos = o.listRev
		default:
			rev := o.change.Revision
			if rev > end {
				fail(i, "revision %d beyond the truth's %d", rev, end)
			}
			if o.change.IsProgress() {
				if rev < pos {
					fail(i, "progress notification at %d after revision %d", rev, pos)
				}
				if m := lt.firstIn(pos, rev, r); m != 0 {
					fail(i, "progress notification at %d, but the change at %d was never yielded", rev, m)
				}
				pos = rev
				continue
			}
			if rev <= pos {
				fail(i, "revision %d after %d: repeated or out of order", rev, pos)
			}
			if m := lt.firstIn(pos, rev-1, r); m != 0 {
				fail(i, "revision %d yielded, but the change at %d before it was not", rev, m)
			}
			if got, want := renderChange(o.change), lt.want(rev, r, prev); got != want {
				fail(i, "revision %d:\n  got  %s\n  want %s", rev, got, want)
			}
			pos = rev
		}
	}
	return pos
}

// collectList lists r on db at a revision it reports, as a program does
// before watching (or after a compacted error).
func collectList(ctx context.Context, db *DB, r keyRange) (map[string]string, uint64, error) {
	var rev uint64
	items := map[string]string{}
	for it, err := range db.Scan(ctx, r.start, r.end, ReadRevision(&rev)) {
		if err != nil {
			return nil, 0, err
		}
		items[string(it.Key)] = fmt.Sprintf("%s c%d m%d v%d", it.Value, it.CreateIndex, it.ModIndex, it.Version)
	}
	return items, rev, nil
}
