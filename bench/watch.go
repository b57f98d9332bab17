package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr"
)

// watchSystem is a system with watches (yggr): the watch workload runs
// its watchers on the leader's node.
type watchSystem interface {
	system
	// WatchDB returns the leader's database.
	WatchDB(ctx context.Context) (*yggr.DB, error)
}

// WatchDB returns the leader's database, for the watch workload.
func (s *yggrSys) WatchDB(ctx context.Context) (*yggr.DB, error) { return s.fast(ctx) }

// watchCases are the rows of the watch workload: idle watchers are on
// prefixes no write touches, receiving ones on the prefix every write goes
// to.
var watchCases = []struct {
	name       string
	idle, recv int
}{
	{"watch-0", 0, 0},
	{"watch-idle-100", 100, 0},
	{"watch-idle-1000", 1000, 0},
	{"watch-recv-100", 0, 100},
	{"watch-recv-1000", 0, 1000},
}

// watchFanout measures writes at concurrency 64 through the leader while
// the leader's node serves 0, 100 or 1000 watchers (see watchCases), each
// a goroutine ranging over DB.Watch. A row's note gives its writes/s
// against the watch-0 row, the events delivered per second (until every
// receiving watcher has every event), and the heap and stack one idle
// watcher adds (after a GC).
func watchFanout(ctx context.Context, sys watchSystem, cfg config, val []byte) []Result {
	var out []Result
	var base float64 // watch-0 writes/s
	for n, tc := range watchCases {
		r := watchRow(ctx, sys, cfg, val, int64(n), tc.idle, tc.recv)
		r.Workload = tc.name
		if tc.idle+tc.recv == 0 {
			base = r.OpsPerSec
		} else if base > 0 {
			r.Note = fmt.Sprintf("writes/s %.3f× watch-0; %s", r.OpsPerSec/base, r.Note)
		}
		out = append(out, r)
	}
	return out
}

// watchRow runs one row of watchFanout; run numbers its keys apart from
// the other rows'.
func watchRow(ctx context.Context, sys watchSystem, cfg config, val []byte, run int64, idle, recv int) Result {
	l := load1()
	db, err := sys.WatchDB(ctx)
	if err != nil {
		return Result{Concurrency: 64, Load1: l, Err: err.Error()}
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	mem0 := liveHeap()
	for i := range idle {
		prefix := fmt.Appendf(nil, "idle/%04d/", i)
		seq := db.Watch(wctx, prefix, yggr.PrefixEnd(prefix))
		wg.Add(1)
		// Owned by watchRow, which cancels it and waits for it.
		go func() {
			defer wg.Done()
			for _, err := range seq {
				if err != nil {
					return
				}
			}
		}()
	}
	perWatcher := 0.0
	if idle > 0 {
		perWatcher = float64(liveHeap()-mem0) / float64(idle)
	}
	prefix := fmt.Appendf(nil, "w%d/", run)
	var delivered atomic.Int64
	var failed atomic.Pointer[error]
	for range recv {
		seq := db.Watch(wctx, prefix, yggr.PrefixEnd(prefix))
		wg.Add(1)
		// Owned by watchRow, which cancels it and waits for it.
		go func() {
			defer wg.Done()
			for c, err := range seq {
				if err != nil {
					if wctx.Err() == nil {
						failed.CompareAndSwap(nil, &err)
					}
					return
				}
				delivered.Add(int64(len(c.Events)))
			}
		}()
	}

	t0 := time.Now()
	r := withCPU(sys, func() Result {
		return runLoad(ctx, 64, cfg.duration, 0, func(ctx context.Context, i int64) error {
			return sys.Put(ctx, fmt.Appendf(nil, "%s%015d", prefix, i), val)
		})
	})
	r.Load1 = l
	if idle > 0 {
		r.Note = fmt.Sprintf("%d idle watchers; %.0f B of heap and stack per watcher", idle, perWatcher)
	}
	if recv == 0 {
		return r
	}
	// Every successful write is an event for every receiving watcher; a
	// failed one may have been applied too.
	want := int64(recv) * r.Ops
	drainMax := 2 * time.Minute
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for delivered.Load() < want && failed.Load() == nil && time.Since(t0) < cfg.duration+drainMax {
		<-tick.C
	}
	took := time.Since(t0)
	r.Note = fmt.Sprintf("%d watchers receiving every write: %.0f events/s delivered (%d events in %.1f s, of which %.1f s after the writes)",
		recv, float64(delivered.Load())/took.Seconds(), delivered.Load(), took.Seconds(), took.Seconds()-r.Seconds)
	switch {
	case failed.Load() != nil:
		r.Err = fmt.Sprintf("a watcher failed: %v", *failed.Load())
	case delivered.Load() < want:
		r.Err = fmt.Sprintf("watchers received %d of %d events within %v", delivered.Load(), want, drainMax)
	}
	return r
}

// liveHeap returns the live heap and goroutine stacks after a GC.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
