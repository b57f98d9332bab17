package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

// rawUpdate changes the Badger database of the closed store in dir directly.
func rawUpdate(t *testing.T, dir string, f func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "raft"), Options{}, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// runKeyAt returns the key of the run that starts at index first.
func runKeyAt(txn *badger.Txn, first uint64) []byte {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRun}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if r, ok := parseRunKey(it.Item().Key()); ok && r.first == first {
			return it.Item().KeyCopy(nil)
		}
	}
	panic(fmt.Sprintf("no run starts at %d", first))
}

func rawGet(txn *badger.Txn, key []byte) []byte {
	item, err := txn.Get(key)
	if err != nil {
		panic(err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		panic(err)
	}
	return v
}

func checkCorrupt(t *testing.T, op string, f func() error, wantIn ...string) {
	t.Helper()
	err := f()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s = %v, want ErrCorrupt", op, err)
	}
	for _, w := range wantIn {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s error %q does not mention %q", op, err, w)
		}
	}
}

func openErr(dir string, opts Options) func() error {
	return func() error {
		s, err := Open(dir, opts)
		if err == nil {
			s.Close()
		}
		return err
	}
}

// checkpointed returns a closed store in a new directory holding entries
// 1..12 of term 2 in Badger runs of entries 1-3, 4-6, 7-9 and 10-12, and
// nothing in the write-ahead log.
func checkpointed(t *testing.T) string {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	for i := uint64(1); i <= 12; i += 3 {
		mustWrite(t, s, Batch{Entries: ents(2, i, i+2), HardState: &engine.HardState{Term: 2, Commit: i}})
		if err := s.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	return dir
}

// damages of the run of entries 4..6.
var runDamages = []struct {
	name   string
	damage func(txn *badger.Txn) error
}{
	{"flipped byte", func(txn *badger.Txn) error {
		v := rawGet(txn, runKeyAt(txn, 4))
		v[len(v)/2] ^= 0x40
		return txn.Set(runKeyAt(txn, 4), v)
	}},
	{"truncated", func(txn *badger.Txn) error {
		v := rawGet(txn, runKeyAt(txn, 4))
		return txn.Set(runKeyAt(txn, 4), v[:len(v)-3])
	}},
	{"empty", func(txn *badger.Txn) error { return txn.Set(runKeyAt(txn, 4), []byte{}) }},
	{"unknown version", func(txn *badger.Txn) error {
		v := rawGet(txn, runKeyAt(txn, 4))
		v[0] = 7
		return txn.Set(runKeyAt(txn, 4), v)
	}},
	{"misdirected write", func(txn *badger.Txn) error { return txn.Set(runKeyAt(txn, 4), rawGet(txn, runKeyAt(txn, 7))) }},
}

// TestCorruptRun: a damaged run fails every read of it with ErrCorrupt
// naming the entries, live and after a reopen; the other runs still read.
func TestCorruptRun(t *testing.T) {
	for _, d := range runDamages {
		t.Run(d.name, func(t *testing.T) {
			dir := checkpointed(t)
			rawUpdate(t, dir, d.damage)
			s := openDisk(t, dir, Options{})
			checkCorrupt(t, "Load", func() error { _, err := s.Load(); return err }, "entries 4 to 6", s.where)
			checkCorrupt(t, "Entries", func() error { _, err := s.Entries(1, 13, 1<<20); return err }, "entries 4 to 6")
			checkCorrupt(t, "Term", func() error { _, err := s.Term(5); return err }, "entries 4 to 6")
			if got, err := s.Entries(7, 13, 1<<20); err != nil || len(got) != 6 {
				t.Errorf("Entries(7, 13) = %d entries, %v; want 6, nil", len(got), err)
			}
		})
	}
}

// TestMissingRun: a run deleted from the middle of the log is refused at
// Open, never silently cut off with the runs after it.
func TestMissingRun(t *testing.T) {
	dir := checkpointed(t)
	rawUpdate(t, dir, func(txn *badger.Txn) error { return txn.Delete(runKeyAt(txn, 4)) })
	checkCorrupt(t, "Open", openErr(dir, Options{}), "entry 4", "missing", "entries 7 to 9")
	// The last run missing looks like a shorter log: nothing says the
	// entries existed, except the commit index.
	dir = checkpointed(t)
	rawUpdate(t, dir, func(txn *badger.Txn) error { return txn.Delete(runKeyAt(txn, 10)) })
	s := openDisk(t, dir, Options{})
	if got := s.LastIndex(); got != 9 {
		t.Errorf("LastIndex with the last run deleted = %d, want 9", got)
	}
}

// TestCorruptFixedRecords: every one-key record, damaged, is refused at
// Open with ErrCorrupt naming it.
func TestCorruptFixedRecords(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  []byte
	}{
		{"hard state record", keyHardState},
		{"snapshot record", keySnapshot},
		{"identity record", keyIdentity},
		{"checkpoint record", keyCheckpoint},
		{"format record", keyFormat},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{})
			mustWrite(t, s, Batch{Entries: ents(2, 1, 10), HardState: &engine.HardState{Term: 2}})
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: 3, Term: 2}); err != nil {
				t.Fatal(err)
			}
			if err := s.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if tt.key[0] == kindIdentity {
				// Written by earlier releases only.
				writeLegacyIdentity(t, dir, identity{})
			}
			rawUpdate(t, dir, func(txn *badger.Txn) error {
				v := rawGet(txn, tt.key)
				if bytes := len(v); bytes > 5 {
					v[1] ^= 1
				} else {
					v = v[:bytes-1] // the format record: one byte short
				}
				return txn.Set(tt.key, v)
			})
			checkCorrupt(t, "Open", openErr(dir, Options{}), tt.name, filepath.Join(dir, "raft"))
		})
	}
}

// walState writes batches 1..5 (entries 1-3, 4-6, ... of term 1) to a new
// store, checkpoints after the first, closes it and returns the directory,
// the segment file and the offsets where each record ends.
func walState(t *testing.T) (dir, seg string, ends []int64) {
	dir = t.TempDir()
	s := openDisk(t, dir, Options{})
	for i := uint64(1); i <= 15; i += 3 {
		mustWrite(t, s, Batch{Entries: ents(1, i, i+2), HardState: &engine.HardState{Term: 1, Commit: i - 1}})
		ends = append(ends, s.wal.off)
		if i == 1 {
			if err := s.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	seg = s.wal.f.Name()
	s.Close()
	return dir, seg, ends
}

func damageFile(t *testing.T, path string, f func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWALTornTail: a damaged last record is a write that never returned:
// Open drops it with a note and zeroes it, the log goes on from the record
// before, and the next Open finds nothing to drop.
func TestWALTornTail(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(b []byte, last, end int64)
	}{
		{"zeroed second half", func(b []byte, last, end int64) { clear(b[(last+end)/2 : end]) }},
		{"flipped byte", func(b []byte, last, end int64) { b[last+30] ^= 0x20 }},
		{"bad length", func(b []byte, last, end int64) { b[last] = 0x7f }},
		{"header only", func(b []byte, last, end int64) { clear(b[last+walRecHeaderLen : end]) }},
		// The body reached the disk, its header's sector did not (found by
		// FuzzRecovery): not the end of the records, a torn one.
		{"body only", func(b []byte, last, end int64) { clear(b[last : last+walRecHeaderLen]) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, seg, ends := walState(t)
			damageFile(t, seg, func(b []byte) { tt.damage(b, ends[3], ends[4]) })
			s := openDisk(t, dir, Options{})
			st := mustLoad(t, s)
			if diff := cmp.Diff(ents(1, 1, 12), st.Entries, cmpEntries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if len(st.Dropped) != 1 || !strings.Contains(st.Dropped[0], "torn record") || !strings.Contains(st.Dropped[0], seg) {
				t.Errorf("Dropped = %q, want one note on a torn record in %s", st.Dropped, seg)
			}
			if st.HardState.Commit != 9 {
				t.Errorf("hard state commit = %d, want 9 (of the last whole record)", st.HardState.Commit)
			}
			mustWrite(t, s, Batch{Entries: ents(2, 13, 14)})
			s.Close()
			s = openDisk(t, dir, Options{})
			st = mustLoad(t, s)
			if len(st.Dropped) != 0 || s.LastIndex() != 14 {
				t.Errorf("second open: Dropped = %q, LastIndex = %d; want none, 14", st.Dropped, s.LastIndex())
			}
		})
	}
}

// TestWALDamageInTheMiddle: a damaged record followed by a valid one is
// not a tear: Open refuses with ErrCorrupt naming the segment.
func TestWALDamageInTheMiddle(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(b []byte, ends []int64)
		want   string
	}{
		{"flipped byte", func(b []byte, ends []int64) { b[ends[1]+40] ^= 1 }, "followed by valid record"},
		{"zeroed record", func(b []byte, ends []int64) { clear(b[ends[1]:ends[2]]) }, "followed by valid record 4"},
		{"zeroed header", func(b []byte, ends []int64) { clear(b[ends[1] : ends[1]+walRecHeaderLen]) }, "followed by valid record 4"},
		{"record moved", func(b []byte, ends []int64) {
			copy(b[ends[1]:ends[2]], b[ends[2]:ends[3]]) // record 4 where 3 was
		}, "record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, seg, ends := walState(t)
			damageFile(t, seg, func(b []byte) { tt.damage(b, ends) })
			checkCorrupt(t, "Open", openErr(dir, Options{}), seg, tt.want)
		})
	}
}

// TestWALSegments: with tiny segments, writes switch segments (to the
// spare when it is ready), checkpoints delete the segments they no longer
// need, a record larger than a segment gets one of its own, and every
// reopen reads the same log.
func TestWALSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{segmentBytes: 2048, CheckpointBytes: 1 << 40}
	s := openDisk(t, dir, opts)
	var want []engine.Entry
	next := uint64(1)
	write := func(n int, size int) {
		var es []engine.Entry
		for range n {
			es = append(es, engine.Entry{Term: 1, Index: next, Data: []byte(strings.Repeat("x", size))})
			next++
		}
		mustWrite(t, s, Batch{Entries: es})
		want = append(want, es...)
	}
	for range 40 {
		write(3, 100)
	}
	if n := s.wal.segmentCount(); n < 5 {
		t.Fatalf("%d segments after 40 records of ~330 bytes in 2 KiB segments", n)
	}
	write(1, 5000) // larger than a segment
	write(2, 10)
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if n := s.wal.segmentCount(); n != 1 {
		t.Errorf("%d segments after a checkpoint of everything, want 1 (the one being written)", n)
	}
	for round := range 2 {
		write(2, 50)
		s.Close()
		s = openDisk(t, dir, opts)
		if diff := cmp.Diff(want, mustLoad(t, s).Entries, cmpEntries); diff != "" {
			t.Fatalf("round %d: entries after reopen (-want +got):\n%s", round, diff)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "raft", "wal", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) > 3 {
		t.Errorf("wal holds %d files, want at most 3 (segments being written, the spare): %v", len(files), files)
	}
}

// smallSegmentOpts keeps everything in the WAL, in segments of 1 KiB.
var smallSegmentOpts = Options{segmentBytes: 1024, CheckpointBytes: 1 << 40}

// smallSegments writes entries 1..60 (20 records of 3 entries) with
// smallSegmentOpts and returns the directory and the segments' paths (at
// least 4), in order.
func smallSegments(t *testing.T) (dir string, paths []string) {
	t.Helper()
	dir = t.TempDir()
	s := openDisk(t, dir, smallSegmentOpts)
	for i := uint64(1); i <= 60; i += 3 {
		mustWrite(t, s, Batch{Entries: ents(1, i, i+2)})
	}
	s.Close()
	paths, err := filepath.Glob(filepath.Join(dir, "raft", "wal", "0*.wal"))
	if err != nil || len(paths) < 4 {
		t.Fatalf("segments %v, %v: want at least 4", paths, err)
	}
	return dir, paths
}

// TestWALLongSegmentIsMappedNotRead: a segment file far longer than a
// segment (256 MiB, sparse: a damaged directory's, or one a huge record
// would make) is scanned through a mapping, not read into the heap: Open
// allocates a small part of its length, and the records before its zeros
// are all recovered.
func TestWALLongSegmentIsMappedNotRead(t *testing.T) {
	dir, paths := smallSegments(t)
	const long = 256 << 20
	if err := os.Truncate(paths[len(paths)-1], long); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := openDisk(t, dir, smallSegmentOpts)
	runtime.ReadMemStats(&after)
	st := mustLoad(t, s)
	if diff := cmp.Diff(ents(1, 1, 60), st.Entries, cmpEntries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > long/8 {
		t.Errorf("Open allocated %d MiB for a %d MiB segment: it read the segment into memory", a>>20, long>>20)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 61, 61)}) // the writer goes on in it
}

// TestWALShortSegmentIsRefused: a segment file cut below its header
// (empty, or a few bytes) is refused naming it, before anything is mapped.
func TestWALShortSegmentIsRefused(t *testing.T) {
	for _, size := range []int64{0, 4} {
		dir, paths := smallSegments(t)
		if err := os.Truncate(paths[1], size); err != nil {
			t.Fatal(err)
		}
		checkCorrupt(t, fmt.Sprintf("Open with a %d-byte segment", size), openErr(dir, smallSegmentOpts),
			paths[1], fmt.Sprintf("%d bytes is not a write-ahead log segment", size))
	}
}

// TestWALDamageAcrossSegments: recover reads one segment at a time, so a
// damaged record makes it read the later segments again: a valid newer
// record in any of them makes the damage corruption; none, a torn tail
// (dropped, the later segments removed); a later segment that is not a
// segment is refused either way.
func TestWALDamageAcrossSegments(t *testing.T) {
	opts := smallSegmentOpts
	// segments is smallSegments, with each segment's records' start
	// offsets.
	segments := func(t *testing.T) (dir string, paths []string, starts [][]int64) {
		dir, paths = smallSegments(t)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int64
			for off := int64(walHeaderLen); off+walRecHeaderLen <= int64(len(b)); {
				sl := readSlot(b[off:])
				if sl.n == 0 {
					break
				}
				offs = append(offs, off)
				off += recordSize(int(sl.n))
			}
			if len(offs) == 0 {
				t.Fatalf("%s holds no record", p)
			}
			starts = append(starts, offs)
		}
		return dir, paths, starts
	}
	t.Run("damage followed by a record in the next segment", func(t *testing.T) {
		dir, paths, starts := segments(t)
		last := starts[1][len(starts[1])-1] // the last record of the second segment
		damageFile(t, paths[1], func(b []byte) { b[last+walRecHeaderLen] ^= 1 })
		checkCorrupt(t, "Open", openErr(dir, opts), paths[1], "followed by valid record", paths[2])
	})
	t.Run("damage followed by a record two segments on", func(t *testing.T) {
		dir, paths, starts := segments(t)
		last := starts[1][len(starts[1])-1]
		damageFile(t, paths[1], func(b []byte) { b[last+walRecHeaderLen] ^= 1 })
		// The third segment holds nothing valid; the fourth does.
		damageFile(t, paths[2], func(b []byte) { clear(b[walHeaderLen:]) })
		checkCorrupt(t, "Open", openErr(dir, opts), paths[1], "followed by valid record", paths[3])
	})
	// tornInSecond damages the second segment's last record and empties
	// the segments after it: a torn tail, unless something else is wrong.
	tornInSecond := func(t *testing.T) (dir string, paths []string, starts [][]int64) {
		dir, paths, starts = segments(t)
		last := starts[1][len(starts[1])-1]
		damageFile(t, paths[1], func(b []byte) { b[last+walRecHeaderLen] ^= 1 })
		for _, p := range paths[2:] {
			damageFile(t, p, func(b []byte) { clear(b[walHeaderLen:]) })
		}
		return dir, paths, starts
	}
	t.Run("torn tail with empty segments after it", func(t *testing.T) {
		dir, paths, starts := tornInSecond(t)
		s := openDisk(t, dir, opts)
		st := mustLoad(t, s)
		n := uint64(3 * (len(starts[0]) + len(starts[1]) - 1)) // the records before the torn one
		if diff := cmp.Diff(ents(1, 1, n), st.Entries, cmpEntries); diff != "" {
			t.Errorf("entries (-want +got):\n%s", diff)
		}
		if len(st.Dropped) != 1 || !strings.Contains(st.Dropped[0], "torn record") || !strings.Contains(st.Dropped[0], paths[1]) {
			t.Errorf("Dropped = %q, want one note on a torn record in %s", st.Dropped, paths[1])
		}
		for _, p := range paths[2:] {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s, after the torn record, still there: %v", p, err)
			}
		}
		mustWrite(t, s, Batch{Entries: ents(2, n+1, n+3)})
		s.Close()
		s = openDisk(t, dir, opts)
		defer s.Close()
		st = mustLoad(t, s)
		if len(st.Dropped) != 0 || s.LastIndex() != n+3 {
			t.Errorf("second open: Dropped = %q, LastIndex = %d; want none, %d", st.Dropped, s.LastIndex(), n+3)
		}
	})
	t.Run("torn tail before a segment that is not one", func(t *testing.T) {
		dir, paths, _ := tornInSecond(t)
		damageFile(t, paths[len(paths)-1], func(b []byte) { b[0] = 'x' })
		checkCorrupt(t, "Open", openErr(dir, opts), paths[len(paths)-1], "not a write-ahead log segment")
	})
}

// TestWALMissingSegment: a segment deleted from the middle is refused.
func TestWALMissingSegment(t *testing.T) {
	dir, segs := smallSegments(t)
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	checkCorrupt(t, "Open", openErr(dir, smallSegmentOpts), "missing")
}

// TestWALLeftovers: what an interrupted preparation leaves (a .tmp file,
// a spare of the wrong size) is removed at Open.
func TestWALLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	mustWrite(t, s, Batch{Entries: ents(1, 1, 3)})
	s.Close()
	walDir := filepath.Join(dir, "raft", "wal")
	for _, name := range []string{"spare.wal.tmp", "0000000000000009.wal.tmp"} {
		if err := os.WriteFile(filepath.Join(walDir, name), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(walDir, spareName), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, Options{})
	if diff := cmp.Diff(ents(1, 1, 3), mustLoad(t, s).Entries, cmpEntries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(walDir, "0000000000000009.wal.tmp")); !os.IsNotExist(err) {
		t.Errorf("0000000000000009.wal.tmp still there: %v", err)
	}
	// The short spare was removed; the preparer makes a new one (through
	// spare.wal.tmp, which the leftover was removed to make room for).
	testutil.WaitFor(t, "a new spare", func() bool {
		fi, err := os.Stat(filepath.Join(walDir, spareName))
		return err == nil && fi.Size() == segmentBytes
	})
	if _, err := os.Stat(filepath.Join(walDir, "spare.wal.tmp")); !os.IsNotExist(err) {
		t.Errorf("spare.wal.tmp still there after the spare is ready: %v", err)
	}
}

// TestReopenAfterEmptyBadgerFiles: a crash between Badger creating a
// memtable or value-log file and sizing it leaves a file of zero bytes,
// which badger.Open refuses (z.NewFile; found by TestCrashRecovery in
// CI). Open removes such files and the log reopens with everything it had.
func TestReopenAfterEmptyBadgerFiles(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ClusterID: "c1", NodeID: "n1"}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 1, 20), HardState: &engine.HardState{Term: 1, Vote: "n1", Commit: 3}})
	want := mustLoad(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raft := filepath.Join(dir, "raft")
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		if err := os.WriteFile(filepath.Join(raft, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openDisk(t, dir, opts)
	if diff := cmp.Diff(want, mustLoad(t, s), cmpEntries); diff != "" {
		t.Errorf("Load after reopen (-before +after):\n%s", diff)
	}
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		if _, err := os.Stat(filepath.Join(raft, name)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", name, err)
		}
	}
}
