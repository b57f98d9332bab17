package yggr

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/kv"
)

// grantMany grants n leases of ttl on db, 64 at a time.
func grantMany(b *testing.B, db *DB, n int, ttl time.Duration) []LeaseID {
	b.Helper()
	ids := make([]LeaseID, n)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				id, err := db.Grant(context.Background(), ttl)
				if err != nil {
					failed.Store(err)
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return ids
}

// benchKeepAlive refreshes 10,000 live leases round robin from 64
// goroutines on db (a 10,000-lease store refreshed every second is 10,000
// keepalives a second: the cost per keepalive is what matters).
func benchKeepAlive(b *testing.B, db *DB) {
	ids := grantMany(b, db, 10_000, time.Minute)
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(32) // 32 goroutines per GOMAXPROCS
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := ids[next.Add(1)%uint64(len(ids))]
			if _, err := db.KeepAlive(ctx, id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n, _ := db.Leases(context.Background()); len(n) != len(ids) {
		b.Fatalf("%d leases live after the keepalives, want %d", len(n), len(ids))
	}
}

// BenchmarkKeepAlive10kSingle: keepalives on a single node (the leader).
func BenchmarkKeepAlive10kSingle(b *testing.B) {
	db, err := Open(b.TempDir(), nil, WithUnsafeNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchKeepAlive(b, db)
}

// BenchmarkKeepAlive10kCluster: keepalives on the leader of three nodes
// (in-process transport): each batch of keepalives costs the leader a
// ReadIndex heartbeat round.
func BenchmarkKeepAlive10kCluster(b *testing.B) {
	c := newChaosCluster(b, 3, 1, WithUnsafeNoSync())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	benchKeepAlive(b, c.dbs[c.leader(ctx)])
}

// BenchmarkKeepAlive10kFollower: as BenchmarkKeepAlive10kCluster, through
// a follower, which forwards each keepalive to the leader.
func BenchmarkKeepAlive10kFollower(b *testing.B) {
	c := newChaosCluster(b, 3, 1, WithUnsafeNoSync())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := c.leader(ctx)
	for _, id := range c.ids {
		if id != l {
			benchKeepAlive(b, c.dbs[id])
			return
		}
	}
}

// BenchmarkLessorTick10k: the expiry loop's work per tick with 10,000
// live leases, none expired: the scan for expired deadlines.
func BenchmarkLessorTick10k(b *testing.B) {
	l := newLessor()
	leases := make([]kv.LeaseInfo, 10_000)
	for i := range leases {
		leases[i] = kv.LeaseInfo{ID: uint64(i + 1), TTL: 60_000}
	}
	now := time.Now()
	l.promote(now, 1, leases, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if ids := l.expired(now, time.Second, maxRevokesPerTick); len(ids) != 0 {
			b.Fatal("expired")
		}
	}
}

// BenchmarkLessorKeepAlive: the lessor's share of a keepalive.
func BenchmarkLessorKeepAlive(b *testing.B) {
	l := newLessor()
	leases := make([]kv.LeaseInfo, 10_000)
	for i := range leases {
		leases[i] = kv.LeaseInfo{ID: uint64(i + 1), TTL: 60_000}
	}
	l.promote(time.Now(), 1, leases, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if l.keepAlive(time.Now(), 1, uint64(i%10_000+1), 60_000) != keptAlive {
			b.Fatal("refused")
		}
	}
}
