package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// catchUpTimeout bounds the wait for a restarted follower.
const catchUpTimeout = 120 * time.Second

// waitApplied polls applied every 200 µs until it reaches target and returns
// the time since t0; after catchUpTimeout (or when ctx ends) it fails,
// naming the system.
func waitApplied(ctx context.Context, system string, t0 time.Time, target uint64, applied func() uint64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if applied() >= target {
			return time.Since(t0), nil
		}
		time.Sleep(200 * time.Microsecond) // poll, bounded by ctx
	}
	return time.Since(t0), fmt.Errorf("bench: %s: follower applied %d < %d after %v", system, applied(), target, catchUpTimeout)
}

// snapshotEach runs snap(i) for the three nodes at once, the leader l first
// in the result, and returns each one's duration. snap returns
// errSkipNode for a node that is not running.
func snapshotEach(l int, snap func(i int) error) ([]time.Duration, error) {
	order := []int{l, (l + 1) % 3, (l + 2) % 3}
	ds := make([]time.Duration, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for k, i := range order {
		wg.Add(1)
		// Owned by snapshotEach, which waits for it; ends when the snapshot does.
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if err := snap(i); !errors.Is(err, errSkipNode) {
				errs[k] = err
			}
			ds[k] = time.Since(t0)
		}()
	}
	wg.Wait()
	return ds, errors.Join(errs...)
}

// errSkipNode tells snapshotEach that a node is not running.
var errSkipNode = errors.New("bench: node not running")

// leaderCache remembers the index of the node a system's load path last
// found leading, so that an operation does not look for the leader each
// time; -1 (reset) means unknown.
type leaderCache struct{ i atomic.Int32 }

func (c *leaderCache) reset() { c.i.Store(-1) }

// index returns the cached leader's index while alive holds for it, else
// finds the leader with find and caches it.
func (c *leaderCache) index(ctx context.Context, alive func(i int) bool, find func(context.Context) (int, error)) (int, error) {
	if i := int(c.i.Load()); i >= 0 && alive(i) {
		return i, nil
	}
	i, err := find(ctx)
	if err != nil {
		return 0, err
	}
	c.i.Store(int32(i))
	return i, nil
}

// forget drops the cached leader after an error, and returns err.
func (c *leaderCache) forget(err error) error {
	if err != nil {
		c.reset()
	}
	return err
}

// findLeader polls the three nodes every millisecond until isLeader holds
// for one and returns its index; after 10 s (or when ctx ends) it fails,
// naming the system.
func findLeader(ctx context.Context, system string, isLeader func(i int) bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		for i := range 3 {
			if isLeader(i) {
				return i, nil
			}
		}
		time.Sleep(time.Millisecond) // poll, bounded by ctx
	}
	return -1, fmt.Errorf("bench: %s: no leader within 10s", system)
}
