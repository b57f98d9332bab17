package yggr

import (
	"fmt"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

// Watchers that stop reading (their loop body blocks) hold neither writes
// nor memory: writes go on, the changes queued for them stay within
// WithWatchBuffer each (Stats.QueuedBytes) and the cache within
// WithWatchCache, and once they read again they get every change, in
// order, from the cache and the log.
func TestStuckWatchersBoundMemory(t *testing.T) {
	ctx := testCtx(t)
	const (
		watchers = 50
		buffer   = 4 << 10
		cache    = 32 << 10
		writes   = 1000
	)
	db := openSingle(t, WithWatchBuffer(buffer), WithWatchCache(cache))
	ranges := []keyRange{{}, {[]byte("k/"), PrefixEnd([]byte("k/"))}, {[]byte("k/05"), []byte("k/50")}}
	release := make(chan struct{})
	type result struct {
		r   keyRange
		obs []seen
		err error
	}
	results := make(chan result, watchers)
	final := newFinalRevision()
	for i := range watchers {
		r := ranges[i%len(ranges)]
		go func() {
			res := result{r: r}
			defer func() { results <- res }()
			for c, err := range db.Watch(ctx, r.start, r.end, FromRevision(1)) {
				if err != nil {
					res.err = err
					return
				}
				res.obs = append(res.obs, seen{change: c})
				if len(res.obs) == 1 {
					select { // stuck: the loop body does not return
					case <-release:
					case <-ctx.Done():
						res.err = ctx.Err()
						return
					}
				}
				if f := final.load(); f != 0 && c.Revision >= f {
					return
				}
			}
		}()
	}
	if err := db.Put(ctx, []byte("k/00"), []byte("first")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "every watcher to be stuck on its first change", func() bool {
		s := db.hub.Stats()
		return s.Watchers == watchers && s.QueuedBytes == 0
	})
	value := make([]byte, 100)
	var maxChange int
	for i := range writes {
		key := fmt.Appendf(nil, "k/%02d", i%100)
		if err := db.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
		maxChange = max(maxChange, 64+48+2*(len(key)+len(value)+64)) // generous: changeOverhead, eventOverhead, two blobs
	}
	s := db.hub.Stats()
	t.Logf("after %d writes with %d stuck watchers: %+v", writes, watchers, s)
	if bound := watchers * (buffer + maxChange); s.QueuedBytes > bound {
		t.Fatalf("%d bytes queued for %d stuck watchers, over %d (%d each)", s.QueuedBytes, watchers, bound, buffer+maxChange)
	}
	if s.QueuedBytes == 0 {
		t.Fatal("nothing queued for the stuck watchers: the test did not test the bound")
	}
	if s.CacheBytes > cache {
		t.Fatalf("the cache holds %d bytes, over %d", s.CacheBytes, cache)
	}
	// The last change, in every range, ends the watchers once it is known.
	last, err := db.PutIndex(ctx, []byte("k/10"), []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	final.store(last)
	close(release)
	lt := newLogTruth()
	if err := lt.extend(db); err != nil {
		t.Fatal(err)
	}
	for range watchers {
		res := <-results
		if res.err != nil {
			t.Fatal(res.err)
		}
		if pos := checkWatcher(t, "stuck watcher", lt, res.r, 1, false, res.obs); pos != last {
			t.Fatalf("stuck watcher over %s complete through %d, want %d", res.r, pos, last)
		}
	}
	if s := db.hub.Stats(); s.Watchers != 0 || s.QueuedBytes != 0 {
		t.Fatalf("after the watchers ended: %+v", s)
	}
}
