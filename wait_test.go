package yggr

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after 20 seconds.
// Conditions reached asynchronously (an applied index, a snapshot taken in
// the background, a watcher's position) are waited on with it, never slept
// for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
