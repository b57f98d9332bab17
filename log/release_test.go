package log

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// TestCheckpointReleasesEntryData checks that once a checkpoint has moved
// entries to Badger, the store no longer keeps their Data reachable: Write
// keeps the caller's entries (no copy), and dropping them by reslicing kept
// them reachable through the old array until an append outgrew it.
func TestCheckpointReleasesEntryData(t *testing.T) {
	s := openDisk(t, t.TempDir(), Options{GCInterval: -1})
	freed := make(chan struct{})
	data := bytes.Repeat([]byte("d"), 4<<10)
	runtime.AddCleanup(&data[0], func(ch chan struct{}) { close(ch) }, freed)
	mustWrite(t, s, Batch{Entries: []engine.Entry{{Term: 1, Index: 1, Data: data}, {Term: 1, Index: 2, Data: []byte("e")}}})
	data = nil
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-freed:
			es, err := s.Entries(1, 3, 1<<20)
			if err != nil || len(es) != 2 || len(es[0].Data) != 4<<10 || string(es[1].Data) != "e" {
				t.Fatalf("Entries(1, 3) after the checkpoint: %d entries, %v", len(es), err)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("an entry's Data is still reachable 10 s after a checkpoint moved it to Badger")
		}
	}
}

// TestReopenKeepsNoSegment: the entries Open replays from the write-ahead
// log stay in memory until a checkpoint moves them, and they must not keep
// the segment they were read from (a slice of it would keep all of it:
// here 64 MiB for one small entry).
func TestReopenKeepsNoSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{GCInterval: -1, segmentBytes: 64 << 20, CheckpointBytes: 1 << 30}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, Batch{Entries: []engine.Entry{{Term: 1, Index: 1, Data: []byte("e")}}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, opts)
	if es, err := s.Entries(1, 2, 1<<20); err != nil || len(es) != 1 || string(es[0].Data) != "e" {
		t.Fatalf("Entries(1, 2) after the reopen: %v, %v", es, err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 48<<20 {
		t.Errorf("heap in use %d MiB after reopening a store with one entry in a 64 MiB segment: the segment is kept", ms.HeapInuse>>20)
	}
	runtime.KeepAlive(s)
}
