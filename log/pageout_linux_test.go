package log

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// TestValueLogPagedOut checks that the value-log files Badger finished
// writing do not stay resident (pageOutValueLog), and that the entries in
// them still read back whole. Issue 15: Badger writes its value log
// through a shared mapping, so without this the process kept up to the
// whole retained log resident.
func TestValueLogPagedOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir") // /proc/self/maps does not quote spaces
	s := openDisk(t, dir, Options{GCInterval: -1, valueLogFileSize: 1 << 20})
	if s.vlogDir == "" {
		t.Fatalf("vlogDir not resolved for %s", dir)
	}
	data := func(i uint64) []byte { return bytes.Repeat([]byte{byte(i)}, 8<<10) }
	// 8.8 MiB of runs in the value log: eight 1 MiB files or more, and the
	// newest partly written (about 768 KiB).
	const n = 1024 + 6*16
	for i := uint64(1); i <= n; i += 16 {
		es := make([]engine.Entry, 16)
		for j := range es {
			es[j] = engine.Entry{Term: 1, Index: i + uint64(j), Data: data(i + uint64(j))}
		}
		mustWrite(t, s, Batch{Entries: es})
		if err := s.Checkpoint(); err != nil { // one 128 KiB Badger request
			t.Fatal(err)
		}
	}
	if files := vlogFiles(t, dir); files < 8 {
		t.Fatalf("%d value-log files after writing 8 MiB of 1 MiB files, want 8 or more", files)
	}
	if pageOutUnsupported.Load() {
		t.Skip("madvise(MADV_PAGEOUT) unsupported by this kernel")
	}
	// Every file, the newest too, was paged out by the last checkpoint.
	if rss := vlogRSS(t, s.vlogDir); rss > 256<<10 {
		t.Errorf("value-log mappings of the store hold %d KiB resident after 8 MiB of runs, want at most 256 KiB", rss>>10)
	}
	for lo := uint64(1); lo <= n; lo += 100 {
		es, err := s.Entries(lo, min(lo+100, n+1), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range es {
			if idx := lo + uint64(k); e.Index != idx || !bytes.Equal(e.Data, data(idx)) {
				t.Fatalf("entry %d read back as index %d with %d bytes, want its 8 KiB", idx, e.Index, len(e.Data))
			}
		}
		if len(es) != int(min(lo+100, n+1)-lo) {
			t.Fatalf("Entries(%d, %d) returned %d entries", lo, min(lo+100, n+1), len(es))
		}
	}
	// Load (what a reopen does) reads the whole log back through the
	// mappings and then pages every file out again, the newest too (which
	// kept up to its whole size resident before).
	st, err := s.Load()
	if err != nil || len(st.Entries) != n {
		t.Fatalf("Load: %d entries, %v; want %d", len(st.Entries), err, n)
	}
	if rss := vlogRSS(t, s.vlogDir); rss > 256<<10 {
		t.Errorf("value-log mappings hold %d KiB resident after Load read 8 MiB of runs, want at most 256 KiB", rss>>10)
	}
}

// vlogRSS returns the resident bytes of the process's mappings of the
// value-log files in dir.
func vlogRSS(t *testing.T, dir string) int64 {
	t.Helper()
	return mappedRSSOf(t, func(path string) bool { return strings.HasSuffix(path, ".vlog") && filepath.Dir(path) == dir })
}
