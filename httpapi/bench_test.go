//go:build unix

// reportCPU reads getrusage(2).

package httpapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
)

// BenchmarkClient measures one client round trip over loopback HTTP to a
// single-node database (fsync off): the HTTP layer's cost on top of the DB.
func BenchmarkClient(b *testing.B) {
	db, err := yggr.Open(b.TempDir(), nil, yggr.WithUnsafeNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(NewHandler(db, Options{}))
	defer srv.Close()
	c, err := NewClient([]string{srv.URL}, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	value := make([]byte, 128)
	b.Run("put", func(b *testing.B) {
		for i := range b.N {
			if _, err := c.Put(ctx, fmt.Appendf(nil, "k%08d", i), value); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, cons := range []yggr.Consistency{yggr.Linearizable, yggr.Stale} {
		b.Run("get-"+cons.String(), func(b *testing.B) {
			for i := range b.N {
				if _, _, err := c.Get(ctx, fmt.Appendf(nil, "k%08d", i%100), yggr.WithConsistency(cons)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientParallel is BenchmarkClient with GOMAXPROCS×32 callers
// at once over one Client (its connection pool), as in the bench's
// yggr-serve rows at concurrency 64. Besides time it reports the CPU time
// (client and server: this process) per operation, cpu-µs/op, which a
// loaded machine disturbs less than the time.
func BenchmarkClientParallel(b *testing.B) {
	db, err := yggr.Open(b.TempDir(), nil, yggr.WithUnsafeNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(NewHandler(db, Options{}))
	defer srv.Close()
	c, err := NewClient([]string{srv.URL}, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	value := make([]byte, 128)
	for i := range 100 {
		if _, err := c.Put(ctx, fmt.Appendf(nil, "k%08d", i), value); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	b.Run("put", func(b *testing.B) {
		b.SetParallelism(32)
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Put(ctx, fmt.Appendf(nil, "p%08d", seq.Add(1)), value); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// put-deadline: each call under its own 10s deadline, as the bench's
	// load generator sends them.
	b.Run("put-deadline", func(b *testing.B) {
		b.SetParallelism(32)
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				octx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := c.Put(octx, fmt.Appendf(nil, "p%08d", seq.Add(1)), value)
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, cons := range []yggr.Consistency{yggr.Linearizable, yggr.Stale} {
		b.Run("get-"+cons.String(), func(b *testing.B) {
			b.SetParallelism(32)
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := c.Get(ctx, fmt.Appendf(nil, "k%08d", seq.Add(1)%100), yggr.WithConsistency(cons)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// reportCPU starts counting this process's CPU time (user + system); the
// function it returns reports it per operation as cpu-µs/op.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t0 := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-t0).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}
