package yggr

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks run a 3-node cluster over QUIC loopback with durable storage
// (fsync on every batch). Compare runs with benchstat.

func benchCluster(b testing.TB, opts ...Option) (*testCluster, *DB) {
	c := newQUICClusterTB(b, 3, opts...)
	ctx := context.Background()
	l := c.leader(ctx)
	return c, c.dbs[l]
}

// BenchmarkPut writes from conc goroutines through the leader of a
// three-node QUIC cluster; it reports writes/s and the process's CPU time
// per write (all three nodes and the writers).
func BenchmarkPut(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			_, db := benchCluster(b)
			benchPuts(b, db, conc, "key-")
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, c := range []Consistency{Linearizable, Lease, Stale} {
		b.Run(c.String(), func(b *testing.B) {
			_, db := benchCluster(b, WithLeaseReads())
			benchGet(b, db, c)
		})
	}
}

// BenchmarkGetBenchLoop is BenchmarkGet/linearizable with the loop of
// bench/'s read-linearizable workload, so that a profile or an A/B of the
// read path sees what that workload pays: 1000 keys of 16 B with 128 B
// values (16 B keys share their first 8 bytes, so every tree comparison
// falls through the key prefix), and per read a 10 s timeout context (the
// read's wait selects on its Done channel, which the context creates on
// first use) and one latency sample.
func BenchmarkGetBenchLoop(b *testing.B) {
	_, db := benchCluster(b, WithLeaseReads())
	ctx := context.Background()
	key := func(i int64) []byte { return fmt.Appendf(nil, "k%015d", i) }
	const keys = 1000
	for i := int64(1); i <= keys; i++ {
		if err := db.Put(ctx, key(1e12+i), make([]byte, 128)); err != nil {
			b.Fatal(err)
		}
	}
	var latNanos atomic.Int64
	b.ResetTimer()
	cpu0 := processCPUNanos()
	parallel(b, 64, int64(b.N), func(i int64) error {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t0 := time.Now()
		_, err := db.Get(octx, key(1e12+1+i%keys), WithConsistency(Linearizable))
		latNanos.Add(int64(time.Since(t0)))
		return err
	})
	b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(latNanos.Load())/float64(b.N)/1e3, "µs/read")
	if m := db.Metrics(); m.ReadsStarted > 0 {
		b.ReportMetric(float64(b.N)/float64(m.ReadsStarted), "reads/batch")
	}
}

// BenchmarkGetOneNode is BenchmarkGet on a single-node database: a
// linearizable read still goes through a read batch and the driver, but
// its round needs no peer, so this measures the read path without QUIC.
func BenchmarkGetOneNode(b *testing.B) {
	for _, c := range []Consistency{Linearizable, Lease} {
		b.Run(c.String(), func(b *testing.B) {
			db, err := Open(b.TempDir(), nil, WithLeaseReads())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			benchGet(b, db, c)
		})
	}
}

// benchGet writes 100 keys, then reads them from 64 goroutines at
// consistency c.
func benchGet(b *testing.B, db *DB, c Consistency) {
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("key-%03d", i)), []byte("value")); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu0 := processCPUNanos()
	parallel(b, 64, int64(b.N), func(i int64) error {
		_, err := db.Get(ctx, []byte(fmt.Sprintf("key-%03d", i%100)), WithConsistency(c))
		return err
	})
	// CPU time of the whole process (every node and the readers) per
	// read: less exposed than wall time to a shared machine's scheduling.
	b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	if m := db.Metrics(); m.ReadsStarted > 0 {
		b.ReportMetric(float64(b.N)/float64(m.ReadsStarted), "reads/batch")
	}
}

// BenchmarkPutOneNode writes 128 B values from 64 goroutines to a
// single-node database (no network): the write path through the log, the
// engine and apply without QUIC. sync=on is the default durability (fsync
// per batch); sync=off (WithUnsafeNoSync) leaves the CPU cost of the path,
// which shows a change to it more clearly.
func BenchmarkPutOneNode(b *testing.B) {
	for _, durable := range []bool{true, false} {
		b.Run("sync="+onOff(durable), func(b *testing.B) {
			var opts []Option
			if !durable {
				opts = append(opts, WithUnsafeNoSync())
			}
			db, err := Open(b.TempDir(), nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			benchPuts(b, db, 64, "key-")
		})
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// benchPuts writes b.N keys prefix+%010d with 128 B values from conc
// goroutines, resets the timer first, and reports writes/s and the
// process's CPU time per write (cpu-ns/op). It returns the wall time of
// the writes.
func benchPuts(b *testing.B, db *DB, conc int, prefix string) time.Duration {
	ctx := context.Background()
	val := make([]byte, 128)
	b.ResetTimer()
	cpu0, t0 := processCPUNanos(), time.Now()
	parallel(b, conc, int64(b.N), func(i int64) error {
		return db.Put(ctx, []byte(fmt.Sprintf("%s%010d", prefix, i)), val)
	})
	took := time.Since(t0)
	b.ReportMetric(float64(processCPUNanos()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/took.Seconds(), "writes/s")
	return took
}

// parallel calls op(i) for i = 1..n from workers goroutines, each i once,
// and returns when all have returned; a worker stops at its first error,
// which it reports with b.Error.
func parallel(b *testing.B, workers int, n int64, op func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= n; i = next.Add(1) {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
