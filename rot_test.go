package yggr

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/yggrdb/yggr/internal/testutil"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rotFixture writes a single-node directory holding every kind of file:
// Badger's records (a checkpoint ran when the snapshot compacted the
// log), a snapshot (chunks and manifest), and write-ahead log records
// after the checkpoint. It returns the directory, closed.
func rotFixture(t *testing.T) string {
	t.Helper()
	ctx := testCtx(t)
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 2000) // runs above Badger's value threshold: in its value log
	for i := range 200 {
		if err := db.Put(ctx, fmt.Appendf(nil, "k%03d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the compaction's checkpoint to release the write-ahead log", func() bool {
		return len(globFiles(t, dir, "raft/wal/*.wal")) <= 2
	})
	for i := range 20 {
		if err := db.Put(ctx, fmt.Appendf(nil, "after%03d", i), []byte("w")); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// globFiles returns the files matching pattern under dir, sorted, without
// the spare write-ahead log segment.
func globFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	ms, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	ms = slices.DeleteFunc(ms, func(p string) bool { return filepath.Base(p) == "spare.wal" })
	slices.Sort(ms)
	return ms
}

// flipByte flips the bits of the byte at off in path (negative: from the
// end).
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncateHalf(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte or a truncated file is found when the node opens: Open
// fails with ErrCorrupt, naming the file and what is wrong, and no node
// serves the damaged data. One case per kind of file.
func TestRottenFilesRefuseToOpen(t *testing.T) {
	pristine := rotFixture(t)
	cases := []struct {
		name string
		// damage damages the copy in dir and returns the damaged file.
		damage func(t *testing.T, dir string) string
		// what is wrong, as the error says it.
		what string
	}{
		{"wal record flipped", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "raft/wal/*.wal")[0]
			flipByte(t, p, 16+20) // in the first record's body; valid records follow
			return p
		}, "a damaged record is followed by valid record"},
		{"wal segment truncated", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "raft/wal/*.wal")[0]
			truncateHalf(t, p)
			return p
		}, "truncated"},
		{"snapshot chunk flipped", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "snapshots/*/chunk-*")[0]
			flipByte(t, p, 100)
			return p
		}, "checksum"},
		{"snapshot chunk truncated", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "snapshots/*/chunk-*")[0]
			truncateHalf(t, p)
			return p
		}, "size"},
		{"snapshot manifest flipped", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "snapshots/*/manifest")[0]
			flipByte(t, p, 12)
			return p
		}, "manifest"},
		{"snapshot manifest truncated", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "snapshots/*/manifest")[0]
			truncateHalf(t, p)
			return p
		}, "manifest"},
		{"badger table flipped", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "raft/*.sst")[0]
			flipByte(t, p, 20) // in a key: Badger alone served the table as is
			return p
		}, "checksum"},
		{"badger table trailer flipped", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "raft/*.sst")[0]
			flipByte(t, p, -1) // Badger alone panicked on a goroutine of its own
			return p
		}, "damaged table"},
		{"badger table truncated", func(t *testing.T, dir string) string {
			p := globFiles(t, dir, "raft/*.sst")[0]
			truncateHalf(t, p)
			return p
		}, "Badger table"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(pristine)); err != nil {
				t.Fatal(err)
			}
			path := tc.damage(t, dir)
			db, err := Open(dir, nil)
			if err == nil {
				db.Close()
				t.Fatalf("Open succeeded with %s damaged", path)
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.what) {
				t.Errorf("Open with %s damaged: %v\nwant ErrCorrupt naming the file and saying %q", path, err, tc.what)
			}
		})
	}
}
