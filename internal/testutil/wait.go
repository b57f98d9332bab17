package testutil

import (
	"context"
	"testing"
	"time"
)

// WaitTimeout bounds WaitFor: long enough for an election, a failover or a
// snapshot transfer on a loaded two-core machine, short enough that a
// condition that never holds fails the test rather than the test binary.
const WaitTimeout = 30 * time.Second

// pollInterval is how often WaitFor checks its condition.
const pollInterval = 5 * time.Millisecond

// WaitFor polls cond until it holds, and fails t (naming what it waited
// for) once WaitTimeout has passed. Conditions reached asynchronously (an
// applied index, a leader elected, a connection refused) are waited on
// with it, never slept for. cond runs on the calling goroutine.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitFor(t, WaitTimeout, what, cond)
}

// waitFor is WaitFor with the deadline as a parameter (its own tests).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(context.Background(), timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll reports whether cond held within timeout, checking it as WaitFor
// does, and gives up early (false) when ctx ends. It is WaitFor for a
// goroutine other than the test's, which must not call t.Fatal.
func Poll(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
