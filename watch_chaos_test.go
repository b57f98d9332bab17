package yggr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"
)

// The watch chaos test: writers of puts, deletes and multi-key
// transactions on several prefixes while leaders are killed, nodes
// restarted and logs compacted; watchers on every node (and on any node)
// that disconnect and resume at random from the last revision seen + 1,
// and after a compacted error list again and resume from the list's
// revision + 1. In the end each watcher's observations must equal,
// exactly, the committed changes to its range derived from the log.
// YGGR_WATCH_CHAOS_ROUNDS (default 10, 2 with -race) sets the rounds of faults; see
// scripts/soak.sh (part watch).

func watchChaosRounds() int {
	if s := os.Getenv("YGGR_WATCH_CHAOS_ROUNDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if raceEnabled {
		return 2
	}
	return 10
}

func TestWatchChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	rounds := watchChaosRounds()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(60+10*rounds)*time.Second)
	defer cancel()
	// Small caches and buffers so that watchers fall behind and replay from
	// the log; snapshots only when the test takes them (then the log is
	// compacted down to one entry below the oldest retained snapshot).
	c := newQUICCluster(t, 3, WithWatchCache(16<<10), WithWatchBuffer(4<<10), withEngine(func(e *engine.Config) {
		e.SnapshotMinBytes, e.CompactionKeep = 1<<40, 1
	}))
	c.leader(ctx)
	var mu sync.Mutex
	dbs := clusterDBs{c: c, mu: &mu}
	lt := newLogTruth()
	ranges := []keyRange{
		{[]byte("a/"), PrefixEnd([]byte("a/"))},
		{[]byte("b/"), PrefixEnd([]byte("b/"))},
		{[]byte("a/3"), []byte("c/2")},
		{},
	}
	rng := rand.New(rand.NewPCG(uint64(rounds), 4))
	final := newFinalRevision()
	wake := make(chan struct{}) // closed after the sleepers' history is compacted
	var ws []*resilientWatcher
	add := func(w *resilientWatcher) {
		w.rng = rand.New(rand.NewPCG(uint64(len(ws)), 9))
		ws = append(ws, w)
	}
	for _, node := range append(c.ids, "") {
		where := node
		if where == "" {
			where = "any"
		}
		for i, r := range ranges {
			w := &resilientWatcher{name: fmt.Sprintf("%s %s", where, r), node: node, r: r, disconnectAfter: 10, prev: rng.IntN(2) == 0}
			if rng.IntN(2) == 0 {
				w.progress = 30 * time.Millisecond
			}
			if i == 0 && node != "" {
				w.name += " (sleeper)"
				w.sleep = wake
			}
			add(w)
		}
	}
	errs := make(chan error, len(ws))
	var done sync.Map // the watchers that returned
	for _, w := range ws {
		go func() {
			err := w.run(ctx, dbs, final)
			done.Store(w, true)
			errs <- err
		}()
	}
	writers := startWatchWriters(ctx, dbs, 3, []string{"a/", "b/", "c/"})

	// snapshotRound snapshots every live node, so that logs are compacted,
	// and extends the truth first: each node's history is pinned (as a
	// replaying watch pins it) until the truth has read past its snapshot.
	snapshots := 0
	snapshotRound := func() {
		t.Helper()
		for _, id := range c.ids {
			mu.Lock()
			db := c.dbs[id]
			mu.Unlock()
			if db == nil {
				continue
			}
			_, release, err := db.node.OpenHistory(lt.end(), replayMachine{kv.New()})
			if err != nil {
				t.Fatalf("pinning %s's history at %d: %v", id, lt.end(), err)
			}
			idx, err := db.Snapshot(ctx)
			if err != nil {
				t.Logf("snapshot of %s: %v", id, err)
			}
			err = lt.extend(db)
			release()
			if err != nil {
				t.Fatal(err)
			}
			if idx > lt.end() {
				t.Fatalf("snapshot of %s at %d, beyond the truth's %d", id, idx, lt.end())
			}
		}
		snapshots++
		if snapshots == 3 {
			close(wake)
		}
	}
	began := time.Now()
	phase := func(format string, args ...any) {
		t.Logf("%6.2fs %s", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	for round := range rounds {
		l := c.leader(ctx)
		phase("round %d: leader %s, %d writes", round, l, writers.ops.Load())
		victim := l
		if rng.IntN(3) == 0 {
			victim = c.ids[(indexOf(c.ids, l)+1+rng.IntN(2))%3]
		}
		mu.Lock()
		c.crash(victim)
		mu.Unlock()
		waitWrites(t, ctx, c, &mu, 20)
		if rng.IntN(2) == 0 { // the victim comes back to a compacted leader
			snapshotRound()
			waitWrites(t, ctx, c, &mu, 20)
		}
		mu.Lock()
		c.restart(victim)
		mu.Unlock()
		waitWrites(t, ctx, c, &mu, 20)
		if rng.IntN(2) == 0 {
			snapshotRound()
		}
	}
	for snapshots < 3 {
		snapshotRound()
		waitWrites(t, ctx, c, &mu, 20)
	}
	writers.finish()
	final.store(fence(t, ctx, dbs, []string{"a/fence", "b/fence", "c/fence"}))
	phase("fence at %d", final.load())
	stuck := time.After(30 * time.Second)
	for range ws {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-stuck:
			for _, w := range ws {
				if _, ok := done.Load(w); !ok {
					t.Logf("%s is not done, at %d:\n%s", w.name, w.pos, strings.Join(w.trace, "\n"))
				}
			}
			buf := make([]byte, 1<<20)
			t.Fatalf("watchers not done 30s after the fence at %d\n%s", final.load(), buf[:runtime.Stack(buf, true)])
		}
	}
	phase("watchers done")
	if err := lt.extend(waitCaughtUp(t, c, final.load())); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, lt, writers.acked)
	var sessions, compacted, lists, closed, obs, progress int
	for _, w := range ws {
		defer func() {
			if t.Failed() {
				t.Logf("%s sessions:\n%s", w.name, strings.Join(w.trace, "\n"))
			}
		}()
		checkWatcher(t, w.name, lt, w.r, 1, w.prev, w.obs)
		sessions, compacted, lists, closed, obs = sessions+w.sessions, compacted+w.compacted, lists+w.lists, closed+w.closedEnds, obs+len(w.obs)
		for _, o := range w.obs {
			if o.list == nil && o.compacted == nil && o.change.IsProgress() {
				progress++
			}
		}
	}
	t.Logf("%d rounds, %d snapshot rounds, %d writes acknowledged, %d revisions; %d watchers: %d observations (%d progress notifications), %d sessions (%d ended by a closing node), %d compacted errors, %d lists",
		rounds, snapshots, writers.ops.Load(), lt.end(), len(ws), obs, progress, sessions, closed, compacted, lists)
	if compacted == 0 || lists == 0 {
		t.Fatalf("no watcher met a compacted revision (%d) and listed again (%d): the test did not test that", compacted, lists)
	}
	if closed == 0 {
		t.Fatal("no watch ended because its node closed: the test did not test resuming after a crash")
	}
}
