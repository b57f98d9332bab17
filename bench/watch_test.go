package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestWatchWorkload runs the watch workload on a yggr cluster with short
// rows and checks that every row is there, without error, with writes, and
// that the receiving rows delivered every write to every watcher.
func TestWatchWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster with 2200 watchers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := startYggr(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	rows := watchFanout(ctx, sys, config{duration: 300 * time.Millisecond}, make([]byte, 128))
	if len(rows) != len(watchCases) {
		t.Fatalf("%d rows, want %d", len(rows), len(watchCases))
	}
	for i, r := range rows {
		if r.Workload != watchCases[i].name || r.Err != "" || r.Ops == 0 {
			t.Errorf("row %d: %s: %d writes, error %q", i, r.Workload, r.Ops, r.Err)
		}
		if watchCases[i].recv > 0 && !strings.Contains(r.Note, "events/s delivered") {
			t.Errorf("%s: note %q", r.Workload, r.Note)
		}
	}
}
