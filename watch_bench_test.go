package yggr

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/kv"
	"github.com/yggrdb/yggr/internal/testutil"
	"github.com/yggrdb/yggr/internal/watch"
)

// BenchmarkWatchFanout measures what watches cost the write path of a
// single-node database (durable, fsync per batch): 64 goroutines put b.N
// keys under "w/" (128 B values) while
//
//   - idle=N: N watches on other prefixes ("idle/0000/", ...), which no
//     write touches: the cost of having watchers at all;
//   - recv=N: N watches on "w/", each of which receives every write, each
//     consumed by its own goroutine as fast as it can.
//
// Every watch is a goroutine ranging over DB.Watch, as a program would run
// it. Metrics: writes/s and cpu-ns/op (process CPU per write) over the
// writes; for recv, events/s delivered from the first write until every
// watcher has received every event, and drain-ms, how long that took after
// the last write returned; for idle, B/watcher, the heap and goroutine
// stack one open watch adds (measured after a GC, before the writes).
func BenchmarkWatchFanout(b *testing.B) {
	for _, tc := range []struct {
		name       string
		idle, recv int
	}{
		{"watchers=0", 0, 0},
		{"idle=100", 100, 0},
		{"idle=1000", 1000, 0},
		{"recv=100", 0, 100},
		{"recv=1000", 0, 1000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			b.Cleanup(func() { cancel(); wg.Wait() })

			mem0 := liveMem()
			for i := range tc.idle {
				prefix := []byte(fmt.Sprintf("idle/%04d/", i))
				seq := db.Watch(ctx, prefix, PrefixEnd(prefix))
				wg.Add(1)
				// Ends when ctx ends (the benchmark's cleanup).
				go func() {
					defer wg.Done()
					for _, err := range seq {
						if err != nil {
							return
						}
					}
				}()
			}
			var delivered atomic.Int64
			var done sync.WaitGroup
			want := int64(b.N)
			for range tc.recv {
				seq := db.Watch(ctx, []byte("w/"), PrefixEnd([]byte("w/")))
				wg.Add(1)
				done.Add(1)
				// Ends when it has received every write, or when ctx ends.
				go func() {
					defer wg.Done()
					defer done.Done()
					var n int64
					for c, err := range seq {
						if err != nil {
							b.Errorf("watch: %v", err)
							return
						}
						n += int64(len(c.Events))
						delivered.Add(int64(len(c.Events)))
						if n >= want {
							return
						}
					}
				}()
			}
			n := tc.idle + tc.recv
			testutil.WaitFor(b, fmt.Sprintf("%d watchers", n), func() bool { return db.hub.Stats().Watchers == n })
			perWatcher := 0.0
			if tc.idle > 0 {
				perWatcher = float64(liveMem()-mem0) / float64(tc.idle)
			}

			t0 := time.Now()
			took := benchPuts(b, db, 64, "w/") // resets the timer and the metrics
			if tc.idle > 0 {
				b.ReportMetric(perWatcher, "B/watcher")
			}
			if tc.recv == 0 {
				return
			}
			all := make(chan struct{})
			go func() { done.Wait(); close(all) }()
			select {
			case <-all:
			case <-time.After(5 * time.Minute):
				b.Fatalf("watchers received %d of %d events in 5 minutes", delivered.Load(), want*int64(tc.recv))
			}
			b.StopTimer()
			total := time.Since(t0)
			b.ReportMetric(float64(delivered.Load())/total.Seconds(), "events/s")
			b.ReportMetric(float64((total - took).Milliseconds()), "drain-ms")
		})
	}
}

// liveMem returns the live heap and the goroutine stacks after a GC.
func liveMem() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// BenchmarkApplyRecorded isolates what event recording adds to apply, the
// part of the write path watches touch: kv.Store.Apply of a put (16 B key
// under "w/", 128 B value) alone (record=off, as before watches), through
// the kvMachine that records the command's events and publishes them to
// the hub (record=on, what every node does), and the same with 1000 idle
// watchers on other prefixes in the hub. AppliedThrough follows every
// entry (a batch of one: the most often it can run).
func BenchmarkApplyRecorded(b *testing.B) {
	for _, tc := range []struct {
		name   string
		record bool
		idle   int
	}{
		{"record=off", false, 0},
		{"record=on", true, 0},
		{"record=on,idle=1000", true, 1000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store := kv.New()
			apply := func(index uint64, cmd []byte) { store.Apply(index, cmd) }
			if tc.record {
				hub := watch.New(0, watch.Options{})
				m := newKVMachine(store, hub)
				for i := range tc.idle {
					prefix := []byte(fmt.Sprintf("idle/%04d/", i))
					w, err := hub.Watch(prefix, PrefixEnd(prefix), 0)
					if err != nil {
						b.Fatal(err)
					}
					defer w.Close()
				}
				apply = func(index uint64, cmd []byte) {
					m.Apply(index, cmd)
					m.AppliedThrough(index)
				}
			}
			val := make([]byte, 128)
			key := make([]byte, 0, 18)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPUNanos()
			for i := range uint64(b.N) {
				// Keys scattered over the tree, as in the kv benchmarks.
				key = fmt.Appendf(key[:0], "w/%016x", i*0x9E3779B97F4A7C15)
				apply(i+1, kv.EncodePut(key, val))
			}
			b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
