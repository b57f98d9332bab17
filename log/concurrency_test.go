package log

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

// TestReadsDuringWrites reads entries and terms from another goroutine while
// the writer appends and truncates. Every read must see a whole write:
// contiguous entries with the data their term and index imply.
func TestReadsDuringWrites(t *testing.T) {
	// Small checkpoints and runs: the reader also races checkpoints, some
	// of them overtaken by a truncation.
	s := openDisk(t, t.TempDir(), Options{NoSync: true, CheckpointBytes: 2048, maxRunBytes: 300})
	done := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	var reads int
	wg.Add(1)
	// The reader goroutine is owned by this test and ends when done closes.
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			reads++
			first, last := s.FirstIndex(), s.LastIndex()
			if last < first {
				continue
			}
			lo := first
			if last > 20 {
				lo = max(first, last-20)
			}
			es, err := s.Entries(lo, last+1, 1<<20)
			if errors.Is(err, ErrUnavailable) {
				continue // a truncation shortened the log since LastIndex
			}
			if err != nil {
				readErr = err
				return
			}
			prevTerm := uint64(0)
			for i, e := range es {
				if e.Index != lo+uint64(i) || e.Term < prevTerm || !bytes.Equal(e.Data, testData(e.Index, e.Term)) {
					readErr = errors.New("inconsistent read: " + e.String())
					return
				}
				prevTerm = e.Term
			}
			if _, err := s.Term(last); err != nil && !errors.Is(err, ErrUnavailable) {
				readErr = err
				return
			}
		}
	}()
	last, term := uint64(0), uint64(1)
	// 300 writes, and more (a bounded number) until a checkpoint has run
	// beside them: on a busy machine the checkpoint goroutine may not
	// have been scheduled during the first 300.
	for w := 0; w < 300 || (s.checkpoints.Load() == 0 && w < 100_000); w++ {
		b := Batch{}
		first := last + 1
		if w%7 == 6 && last > 5 {
			term++
			b.TruncateFrom = last - 4
			first = b.TruncateFrom
		}
		b.Entries = ents(term, first, first+9)
		mustWrite(t, s, b)
		last = first + 9
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("reader: %v", readErr)
	}
	if s.checkpoints.Load() == 0 {
		t.Error("no checkpoint ran during the writes")
	}
	t.Logf("%d reads and %d checkpoints during the writes up to index %d", reads, s.checkpoints.Load(), last)
}

func TestBadgerLogger(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debugf("debug %d\n", 1)
	l.Infof("info %d\n", 2)
	l.Warningf("warn %d\n", 3)
	l.Errorf("error %d\n", 4)
	got := buf.String()
	for _, want := range []string{`level=WARN msg="warn 3" component=badger`, `level=ERROR msg="error 4" component=badger`} {
		if !strings.Contains(got, want) {
			t.Errorf("log output %q lacks %q", got, want)
		}
	}
	for _, unwanted := range []string{"debug 1", "info 2"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("log output %q has %q", got, unwanted)
		}
	}
}

func TestGCRuns(t *testing.T) {
	t.Run("after Compact", func(t *testing.T) {
		s := openDisk(t, t.TempDir(), Options{GCInterval: -1, maxRunBytes: 1})
		mustWrite(t, s, Batch{Entries: ents(1, 1, 10)})
		if err := s.Checkpoint(); err != nil { // the entries are in Badger
			t.Fatal(err)
		}
		if err := s.SetSnapshot(engine.SnapshotMeta{Index: 5, Term: 1}); err != nil {
			t.Fatal(err)
		}
		if got := s.gcRuns.Load(); got != 0 {
			t.Fatalf("GC ran %d times before Compact with periodic GC off", got)
		}
		if err := s.Compact(5); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, "a GC run after Compact", func() bool { return s.gcRuns.Load() >= 1 })
	})
	t.Run("periodically", func(t *testing.T) {
		s := openDisk(t, t.TempDir(), Options{GCInterval: 10 * time.Millisecond})
		testutil.WaitFor(t, "two periodic GC runs", func() bool { return s.gcRuns.Load() >= 2 })
	})
}

// TestGCReclaimsCompactedRuns checks that the value-log files holding only
// compacted runs are deleted by the GC run after Compact, although the LSM
// tree is far too small to flush a memtable by itself (flushDeletes): the
// log of issue 15's load kept all its value log without it.
func TestGCReclaimsCompactedRuns(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{NoSync: true, GCInterval: -1, valueLogFileSize: 1 << 20})
	data := bytes.Repeat([]byte("v"), 8<<10) // each entry a run in the value log
	const n = 1024                           // 8 MiB: eight value-log files or more
	for i := uint64(1); i <= n; i += 16 {
		es := make([]engine.Entry, 16)
		for j := range es {
			es[j] = engine.Entry{Term: 1, Index: i + uint64(j), Data: data}
		}
		mustWrite(t, s, Batch{Entries: es})
		// A Badger request fills one value-log file however large:
		// checkpoints of 128 KiB fill several files.
		if err := s.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	before := vlogFiles(t, dir)
	if before < 8 {
		t.Fatalf("%d value-log files after writing 8 MiB of 1 MiB files, want 8 or more", before)
	}
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: n, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(n); err != nil {
		t.Fatal(err)
	}
	s.runGC()
	if after := vlogFiles(t, dir); after > 2 {
		t.Errorf("%d value-log files after Compact and GC (%d before), want at most 2: the compacted runs' space was not reclaimed", after, before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The key flushDeletes writes and drops is no record: the log reopens.
	s = openDisk(t, dir, Options{NoSync: true, GCInterval: -1})
	if got := s.FirstIndex(); got != n+1 {
		t.Errorf("FirstIndex after reopening = %d, want %d", got, n+1)
	}
}

// vlogFiles counts Badger's value-log files under dir.
func vlogFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "raft", "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestCompactDuringWrites compacts from another goroutine while the writer
// appends and records snapshots, as a runtime may.
func TestCompactDuringWrites(t *testing.T) {
	s := openDisk(t, t.TempDir(), Options{NoSync: true, GCInterval: -1, CheckpointBytes: 4096, maxRunBytes: 1})
	done := make(chan struct{})
	var wg sync.WaitGroup
	var compactErr error
	var compactions int
	wg.Add(1)
	// The compactor goroutine is owned by this test and ends when done closes.
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Compact(s.FirstIndex() - 1); err != nil {
				compactErr = err
				return
			}
			compactions++
		}
	}()
	last := uint64(0)
	for w := range 200 {
		mustWrite(t, s, Batch{Entries: ents(1, last+1, last+10)})
		last += 10
		if w%10 == 9 {
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: last - 15, Term: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	if compactErr != nil {
		t.Fatalf("Compact: %v", compactErr)
	}
	if err := s.Compact(s.FirstIndex() - 1); err != nil {
		t.Fatal(err)
	}
	st := mustLoad(t, s)
	if got, want := len(st.Entries), 15; got != want {
		t.Errorf("entries after the snapshot = %d, want %d", got, want)
	}
	if got, want := countEntryKeys(t, s), 15; got != want {
		t.Errorf("stored entries = %d, want %d", got, want)
	}
	t.Logf("%d compactions during 200 writes", compactions)
}
