package yggr

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// resilientWatcher follows a range on one node (or on any live node) the
// way a program should: it resumes from the last revision seen + 1 after
// the node closes, after a disconnect of its own (at random, by
// cancelling its ctx or by leaving the loop), and after a compacted error
// it lists the range again and resumes from the list's revision + 1.
type resilientWatcher struct {
	name     string
	node     string // "" for any live node
	r        keyRange
	prev     bool
	progress time.Duration
	// disconnectAfter, if set, ends each session after 1 to
	// 2*disconnectAfter yields.
	disconnectAfter int
	// sleep, if set, is waited on once, after the first session: the
	// watcher is away while the history moves on.
	sleep <-chan struct{}
	rng   *rand.Rand

	obs        []seen
	pos        uint64 // the revision through which it is complete
	sessions   int
	compacted  int
	lists      int
	closedEnds int // sessions ended by a closing node
	start      time.Time
	trace      []string // one line per session, for a failure's report
}

func (w *resilientWatcher) tracef(format string, args ...any) {
	if w.start.IsZero() {
		w.start = time.Now()
	}
	w.trace = append(w.trace, fmt.Sprintf("%8.3fs ", time.Since(w.start).Seconds())+fmt.Sprintf(format, args...))
}

// clusterDBs picks nodes of c under mu.
type clusterDBs struct {
	c  *testCluster
	mu *sync.Mutex
}

// get returns node id's DB, or a random live one for "", or nil.
func (cd clusterDBs) get(id string, rng *rand.Rand) *DB {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if id != "" {
		return cd.c.dbs[id]
	}
	var live []*DB
	for _, id := range cd.c.ids {
		if db := cd.c.dbs[id]; db != nil {
			live = append(live, db)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[rng.IntN(len(live))]
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// finalRevision is the revision watchers must reach, once it is known.
type finalRevision struct {
	rev atomic.Uint64
	set chan struct{} // closed when rev is set
}

func newFinalRevision() *finalRevision { return &finalRevision{set: make(chan struct{})} }

func (f *finalRevision) store(rev uint64) {
	f.rev.Store(rev)
	close(f.set)
}

func (f *finalRevision) load() uint64 { return f.rev.Load() }

// run watches until the watcher is complete through the final revision
// (once that is known) or ctx ends (an error).
func (w *resilientWatcher) run(ctx context.Context, dbs clusterDBs, fin *finalRevision) error {
	final := fin.load
	for range 100000 {
		if f := final(); f != 0 && w.pos >= f {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w at revision %d (final %d) after %d sessions", w.name, err, w.pos, final(), w.sessions)
		}
		db := dbs.get(w.node, w.rng)
		if db == nil {
			pause(ctx, 10*time.Millisecond)
			continue
		}
		if err := w.session(ctx, db, dbs, fin); err != nil {
			return err
		}
		if w.sleep != nil {
			select {
			case <-w.sleep:
			case <-ctx.Done():
			}
			w.sleep = nil
		} else if w.rng.IntN(4) == 0 {
			pause(ctx, time.Duration(w.rng.IntN(50))*time.Millisecond)
		}
	}
	return fmt.Errorf("%s: too many sessions", w.name)
}

func (w *resilientWatcher) session(ctx context.Context, db *DB, dbs clusterDBs, fin *finalRevision) error {
	w.sessions++
	final := fin.load
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if final() == 0 {
		// The final change may come before the final revision is known:
		// then end this session, and see in run whether it was the last.
		go func() {
			select {
			case <-fin.set:
				cancel()
			case <-wctx.Done():
			}
		}()
	}
	budget := -1
	if w.disconnectAfter > 0 {
		budget = 1 + w.rng.IntN(2*w.disconnectAfter)
	}
	byCancel := w.rng.IntN(2) == 0
	opts := []WatchOption{FromRevision(w.pos + 1)}
	if w.prev {
		opts = append(opts, WithPrevItem())
	}
	if w.progress > 0 {
		opts = append(opts, WithProgressNotify(w.progress))
	}
	w.tracef("session %d on %s from %d (obs %d)", w.sessions, db.ID(), w.pos+1, len(w.obs))
	for c, err := range db.Watch(wctx, w.r.start, w.r.end, opts...) {
		if err != nil {
			w.tracef("  ends: %v (obs %d)", err, len(w.obs))
			var cerr *CompactedError
			switch {
			case errors.As(err, &cerr):
				w.compacted++
				w.obs = append(w.obs, seen{compacted: cerr})
				return w.relist(ctx, dbs)
			case errors.Is(err, ErrClosed):
				w.closedEnds++
				return nil
			case errors.Is(err, context.Canceled) && wctx.Err() != nil && ctx.Err() == nil:
				return nil // our own disconnect, or the final revision is known
			case ctx.Err() != nil:
				return nil // run reports it
			}
			return fmt.Errorf("%s on %s from %d: unexpected error: %w", w.name, db.ID(), w.pos+1, err)
		}
		w.obs = append(w.obs, seen{change: c})
		w.pos = max(w.pos, c.Revision)
		if f := final(); f != 0 && w.pos >= f {
			return nil
		}
		if budget--; budget == 0 {
			if !byCancel {
				return nil // leave the loop: the watch closes
			}
			cancel() // what is already queued may still come, then ctx's error
		}
	}
	return nil
}

// relist lists the range on some node and goes on from there.
func (w *resilientWatcher) relist(ctx context.Context, dbs clusterDBs) error {
	for range 1000 {
		if ctx.Err() != nil {
			return nil
		}
		db := dbs.get(w.node, w.rng)
		if db == nil {
			pause(ctx, 10*time.Millisecond)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		items, rev, err := collectList(lctx, db, w.r)
		cancel()
		w.tracef("  list on %s: rev %d, %v", db.ID(), rev, err)
		if err == nil {
			w.lists++
			w.obs = append(w.obs, seen{list: items, listRev: rev})
			w.pos = rev
			return nil
		}
		pause(ctx, 20*time.Millisecond)
	}
	return fmt.Errorf("%s: could not list %s", w.name, w.r)
}

// ackedWrite is a write a client saw succeed: its puts and found deletes
// must be in the truth at its revision.
type ackedWrite struct {
	rev     uint64
	puts    [][2]string // key, value
	deletes []string    // keys that existed
}

// watchWriters runs writers of puts, deletes and transactions over several
// keys (some with compares, some putting a key twice) on the keys
// prefix+"0".."4" of each prefix, through random live nodes, until stop.
type watchWriters struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked []ackedWrite
	ops   atomic.Int64
}

func startWatchWriters(ctx context.Context, dbs clusterDBs, n int, prefixes []string) *watchWriters {
	ww := &watchWriters{stop: make(chan struct{})}
	for wr := range n {
		ww.wg.Add(1)
		go func() {
			defer ww.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(wr), 11))
			key := func() string { return fmt.Sprintf("%s%d", prefixes[rng.IntN(len(prefixes))], rng.IntN(5)) }
			for seq := 0; seq < 1_000_000; seq++ {
				select {
				case <-ww.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				db := dbs.get("", rng)
				if db == nil {
					pause(ctx, 10*time.Millisecond)
					continue
				}
				val := fmt.Sprintf("w%d-%d", wr, seq)
				opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
				a, err := writeOne(opCtx, db, rng, key, val)
				cancel()
				if err != nil {
					pause(ctx, 5*time.Millisecond)
					continue
				}
				ww.ops.Add(1)
				ww.mu.Lock()
				ww.acked = append(ww.acked, a)
				ww.mu.Unlock()
			}
		}()
	}
	return ww
}

func (ww *watchWriters) finish() {
	close(ww.stop)
	ww.wg.Wait()
}

// writeOne performs one random write and returns what it changed.
func writeOne(ctx context.Context, db *DB, rng *rand.Rand, key func() string, val string) (ackedWrite, error) {
	switch rng.IntN(7) {
	case 0, 1, 2:
		k := key()
		rev, err := db.PutIndex(ctx, []byte(k), []byte(val))
		return ackedWrite{rev: rev, puts: [][2]string{{k, val}}}, err
	case 3:
		k := key()
		rev, found, err := db.DeleteIndex(ctx, []byte(k))
		a := ackedWrite{rev: rev}
		if found {
			a.deletes = []string{k}
		}
		return a, err
	default: // a transaction over several keys, maybe one twice, maybe a compare
		var t Txn
		if rng.IntN(2) == 0 {
			t.Compares = []Compare{{Key: []byte(key()), Target: CmpExists}}
		}
		branch := func() []Request {
			var rs []Request
			for i := range 2 + rng.IntN(3) {
				if rng.IntN(4) == 0 {
					rs = append(rs, Request{Op: OpDelete, Key: []byte(key())})
				} else {
					rs = append(rs, Request{Op: OpPut, Key: []byte(key()), Value: fmt.Appendf(nil, "%s.%d", val, i)})
				}
			}
			return rs
		}
		t.Then, t.Else = branch(), branch()
		res, err := db.Txn(ctx, t)
		if err != nil {
			return ackedWrite{}, err
		}
		ran := t.Else
		if res.Succeeded {
			ran = t.Then
		}
		a := ackedWrite{rev: res.Index}
		for _, r := range ran {
			if r.Op == OpPut {
				a.puts = append(a.puts, [2]string{string(r.Key), string(r.Value)})
			}
		}
		return a, nil
	}
}

// checkAcked checks that every acknowledged write is in the truth at its
// revision: the truth derived from the log agrees with the clients.
func checkAcked(t *testing.T, lt *logTruth, acked []ackedWrite) {
	t.Helper()
	all := keyRange{}
	for _, a := range acked {
		got := lt.want(a.rev, all, false)
		for _, p := range a.puts {
			if !containsEvent(lt, a.rev, p[0], p[1], false) {
				t.Fatalf("acknowledged put %s=%s at %d is not in the log's history there: %s", p[0], p[1], a.rev, got)
			}
		}
		for _, k := range a.deletes {
			if !containsEvent(lt, a.rev, k, "", true) {
				t.Fatalf("acknowledged delete of %s at %d is not in the log's history there: %s", k, a.rev, got)
			}
		}
	}
}

func containsEvent(lt *logTruth, rev uint64, key, value string, del bool) bool {
	for _, ev := range lt.changes[rev] {
		if ev.Key() == key && ev.IsDelete() == del && (del || string(ev.Item(rev).Value) == value) {
			return true
		}
	}
	return false
}

// fence writes one transaction touching every range the watchers follow
// and returns its revision: once a watcher has it, it has everything.
func fence(t *testing.T, ctx context.Context, dbs clusterDBs, keys []string) uint64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(99, 99))
	var reqs []Request
	for _, k := range keys {
		reqs = append(reqs, Request{Op: OpPut, Key: []byte(k), Value: []byte("fence")})
	}
	for range 200 {
		if db := dbs.get("", rng); db != nil {
			opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			res, err := db.Txn(opCtx, Txn{Then: reqs})
			cancel()
			if err == nil {
				return res.Index
			}
		}
		pause(ctx, 20*time.Millisecond)
		if ctx.Err() != nil {
			break
		}
	}
	t.Fatal("could not write the fence")
	return 0
}
