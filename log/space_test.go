package log

import (
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

// TestCheckpointWaitsForFreeSpace: with too little free space a checkpoint
// moves nothing into Badger (whose mapped files would fault on a full
// disk); the records stay in the WAL, readable and durable across a
// reopen, and move once space is back.
func TestCheckpointWaitsForFreeSpace(t *testing.T) {
	dir := t.TempDir()
	var free atomic.Uint64
	free.Store(checkpointHeadroom - 1)
	opts := Options{ClusterID: "c1", NodeID: "n1", CheckpointBytes: 1 << 10,
		freeBytes: func(string) (uint64, error) { return free.Load(), nil }}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 20; i++ {
		mustWrite(t, s, Batch{Entries: ents(1, 10*i+1, 10*i+10), HardState: &engine.HardState{Term: 1, Commit: 10 * i}})
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatalf("Checkpoint on a full disk: %v, want it to wait without an error", err)
	}
	if s.CheckpointsWaited() == 0 {
		t.Fatal("no checkpoint waited for free space")
	}
	runs := 0
	if err := s.eachRun(func(runID) error { runs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if runs != 0 {
		t.Fatalf("%d runs in Badger after checkpoints that should have waited", runs)
	}
	want := mustLoad(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDisk(t, dir, opts)
	if got := mustLoad(t, s); !cmp.Equal(want, got, cmpEntries) {
		t.Fatalf("reopened store differs (-before +after):\n%s", cmp.Diff(want, got, cmpEntries))
	}
	free.Store(1 << 40)
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if n := countEntryKeys(t, s); n != 200 {
		t.Fatalf("%d entries in Badger after space came back, want 200", n)
	}
	if got := mustLoad(t, s); !cmp.Equal(want, got, cmpEntries) {
		t.Fatalf("store after the checkpoint differs (-before +after):\n%s", cmp.Diff(want, got, cmpEntries))
	}
}

func TestFreeBytes(t *testing.T) {
	n, err := FreeBytes(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("FreeBytes(temp dir) = %d, %v; want some free space", n, err)
	}
	if _, err := FreeBytes("/does/not/exist"); err == nil {
		t.Fatal("FreeBytes of a missing path: no error")
	}
}
