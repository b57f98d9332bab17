package log

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var (
	sampleEntries = []engine.Entry{
		{Term: 1, Index: 1, Type: engine.EntryNoop},
		{Term: 3, Index: 17, Type: engine.EntryNormal, Data: []byte("put k v")},
		{Term: 1<<64 - 1, Index: 1<<64 - 1, Type: engine.EntryConfig, Data: []byte{0, 1, 2, 0xff}},
	}
	sampleHardStates = []engine.HardState{
		{},
		{Term: 7, Vote: "n2", Commit: 42},
	}
	sampleSnapshots = []engine.SnapshotMeta{
		{},
		{Index: 100, Term: 4, Size: 4096, Membership: engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})},
	}
	sampleIdentities = []identity{{}, {ClusterID: "c1", NodeID: "n1"}}
)

// sampleRecords returns every sample record as (name, key, value): the
// Badger records, then write-ahead log records as written to a segment
// (framed, under an empty key).
func sampleRecords() [][3]string {
	var out [][3]string
	add := func(name string, k, v []byte) { out = append(out, [3]string{name, string(k), string(v)}) }
	add("format 3", keyFormat, encodeFormat(formatVersion))
	add("format 2 (earlier releases; format 1's migration)", keyFormat, encodeFormat(formatV2))
	for _, run := range [][]engine.Entry{sampleEntries[:1], sampleRunEntries} {
		id := runOf(run, 7)
		add(fmt.Sprintf("run %d..%d generation 7", run[0].Index, run[len(run)-1].Index), id.key(), encodeRun(id, run))
	}
	for i, hs := range sampleHardStates {
		add(fmt.Sprintf("hardstate %d", i), keyHardState, encodeHardState(hs))
	}
	for _, m := range sampleSnapshots {
		add("snapshot "+m.String(), keySnapshot, encodeSnapshotMeta(m))
	}
	for i, id := range sampleIdentities {
		add(fmt.Sprintf("identity %d", i), keyIdentity, encodeIdentity(id))
	}
	add("checkpoint 77 history 12 last 90", keyCheckpoint, encodeCheckpoint(checkpointRecord{lsn: 77, history: 12, last: 90}))
	add("wal batch", nil, frameRecord(9, encodeBatch(Batch{TruncateFrom: 3, Entries: sampleRunEntries, HardState: &sampleHardStates[1]})))
	add("wal batch without hard state", nil, frameRecord(9, encodeBatch(Batch{Entries: sampleEntries[:1]})))
	add("wal snapshot", nil, frameRecord(9, encodeSnapshotOp(opSnapshot, sampleSnapshots[1], false)))
	add("wal reset keep", nil, frameRecord(9, encodeSnapshotOp(opReset, sampleSnapshots[1], true)))
	add("wal two batches", nil, frameRecord(9, encodeBatches([]Batch{{Entries: sampleEntries[:1]}, {TruncateFrom: 1, Entries: sampleEntries[:1], HardState: &sampleHardStates[1]}})))
	return out
}

// sampleRunEntries are contiguous entries of several types and terms.
var sampleRunEntries = []engine.Entry{
	{Term: 3, Index: 17, Type: engine.EntryNormal, Data: []byte("put k v")},
	{Term: 3, Index: 18, Type: engine.EntryNoop},
	{Term: 4, Index: 19, Type: engine.EntryConfig, Data: []byte{0, 1, 2, 0xff}},
}

// TestGoldenRecords locks the on-disk bytes: a format change shows as a
// diff of testdata/records.golden (regenerate with -update).
func TestGoldenRecords(t *testing.T) {
	var b strings.Builder
	for _, r := range sampleRecords() {
		fmt.Fprintf(&b, "%s\n  key   %s\n  value %s\n", r[0], hex.EncodeToString([]byte(r[1])), hex.EncodeToString([]byte(r[2])))
	}
	testutil.Golden(t, filepath.Join("testdata", "records.golden"), []byte(b.String()), *update)
}

func TestRecordRoundTrip(t *testing.T) {
	for _, run := range [][]engine.Entry{sampleEntries[:1], sampleEntries[2:], sampleRunEntries} {
		first, last := run[0].Index, run[len(run)-1].Index
		id := runID{first, last, 3}
		got, err := decodeRun(id, encodeRun(id, run))
		if err != nil {
			t.Fatalf("decodeRun(%v): %v", run, err)
		}
		if diff := cmp.Diff(run, got, cmpEntries); diff != "" {
			t.Errorf("run round trip (-want +got):\n%s", diff)
		}
		if got, ok := parseRunKey(id.key()); !ok || got != id {
			t.Errorf("parseRunKey(%v.key()) = %v, %v", id, got, ok)
		}
	}
	if _, ok := parseRunKey(runID{5, 4, 1}.key()); ok {
		t.Error("parseRunKey accepted a run whose last index is below its first")
	}
	for _, hs := range sampleHardStates {
		got, err := decodeHardState(encodeHardState(hs))
		if err != nil || got != hs {
			t.Errorf("hard state round trip: got %+v, %v, want %+v", got, err, hs)
		}
	}
	for _, m := range sampleSnapshots {
		got, err := decodeSnapshotMeta(encodeSnapshotMeta(m))
		if err != nil {
			t.Fatalf("decodeSnapshotMeta(%v): %v", m, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("snapshot round trip (-want +got):\n%s", diff)
		}
	}
	for _, id := range sampleIdentities {
		got, err := decodeIdentity(encodeIdentity(id))
		if err != nil || got != id {
			t.Errorf("identity round trip: got %+v, %v, want %+v", got, err, id)
		}
	}
	if c := (checkpointRecord{lsn: 77, history: 12, last: 90}); true {
		if got, err := decodeCheckpoint(encodeCheckpoint(c)); err != nil || got != c {
			t.Errorf("checkpoint round trip: got %+v, %v", got, err)
		}
	}
	b := Batch{TruncateFrom: 3, Entries: sampleRunEntries, HardState: &sampleHardStates[1]}
	op, err := decodeOp(encodeBatch(b)[walRecHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	want := walOp{kind: opBatch, truncate: 3, hs: b.HardState, entries: b.Entries}
	if diff := cmp.Diff(want, op, cmp.AllowUnexported(walOp{}), cmpEntries); diff != "" {
		t.Errorf("batch round trip (-want +got):\n%s", diff)
	}
	for _, kind := range []byte{opSnapshot, opReset} {
		op, err := decodeOp(encodeSnapshotOp(kind, sampleSnapshots[1], kind == opReset)[walRecHeaderLen:])
		want := walOp{kind: kind, snap: sampleSnapshots[1], keep: kind == opReset}
		if diff := cmp.Diff(want, op, cmp.AllowUnexported(walOp{}), cmpEntries); err != nil || diff != "" {
			t.Errorf("op %d round trip: %v (-want +got):\n%s", kind, err, diff)
		}
	}
}

// decodeRecord decodes value v stored under key with the matching decoder
// and re-encodes the result. An empty key means a framed WAL record as it
// sits in a segment: its checksum is verified as at open, then its body
// decoded.
func decodeRecord(key, v []byte) (reencoded []byte, err error) {
	switch {
	case len(key) == 0:
		s, ok := validAt(v, 0)
		if !ok || int64(len(v)) != recordSize(int(s.n)) {
			return nil, fmt.Errorf("%w: not one framed record", errRecord)
		}
		if bytes.ContainsFunc(v[walRecHeaderLen+int(s.n):], func(r rune) bool { return r != 0 }) {
			return nil, fmt.Errorf("%w: padding is not zero", errRecord)
		}
		ops, err := decodeOps(v[walRecHeaderLen : walRecHeaderLen+int(s.n)])
		if err != nil {
			return nil, err
		}
		out := make([]byte, walRecHeaderLen)
		for _, op := range ops {
			switch op.kind {
			case opBatch:
				out = appendBatch(out, Batch{TruncateFrom: op.truncate, Entries: op.entries, HardState: op.hs})
			default:
				out = append(out, encodeSnapshotOp(op.kind, op.snap, op.keep)[walRecHeaderLen:]...)
			}
		}
		return frameRecord(s.lsn, out), nil
	case key[0] == kindRun:
		id, ok := parseRunKey(key)
		if !ok {
			return nil, errRecord
		}
		es, err := decodeRun(id, v)
		if err != nil {
			return nil, err
		}
		return encodeRun(id, es), nil
	case bytes.Equal(key, keyFormat):
		format, err := decodeFormat(v)
		if err != nil {
			return nil, err
		}
		if format > formatVersion {
			// Open refuses it with ErrFormat by its version alone.
			return nil, fmt.Errorf("%w: format %d is not one this code reads", errRecord, format)
		}
		return encodeFormat(format), nil
	case bytes.Equal(key, keyHardState):
		hs, err := decodeHardState(v)
		if err != nil {
			return nil, err
		}
		return encodeHardState(hs), nil
	case bytes.Equal(key, keySnapshot):
		m, err := decodeSnapshotMeta(v)
		if err != nil {
			return nil, err
		}
		return encodeSnapshotMeta(m), nil
	case bytes.Equal(key, keyIdentity):
		id, err := decodeIdentity(v)
		if err != nil {
			return nil, err
		}
		return encodeIdentity(id), nil
	case bytes.Equal(key, keyCheckpoint):
		c, err := decodeCheckpoint(v)
		if err != nil {
			return nil, err
		}
		return encodeCheckpoint(c), nil
	}
	return nil, errors.New("unknown key")
}

// TestFlippedBytesAreDetected: any flipped byte or truncation of a Badger
// record fails its checksum. (WAL bodies are covered by the WAL frame's
// checksum: TestWALDamage.)
func TestFlippedBytesAreDetected(t *testing.T) {
	for _, r := range sampleRecords() {
		key, v := []byte(r[1]), []byte(r[2])
		if len(key) == 0 {
			continue
		}
		for pos := range v {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				d := bytes.Clone(v)
				d[pos] ^= mask
				if _, err := decodeRecord(key, d); !errors.Is(err, errRecord) {
					t.Errorf("%s: flip %02x at %d: err = %v, want errRecord", r[0], mask, pos, err)
				}
			}
		}
		for n := range len(v) {
			if _, err := decodeRecord(key, v[:n]); !errors.Is(err, errRecord) {
				t.Errorf("%s: truncated to %d bytes: err = %v, want errRecord", r[0], n, err)
			}
		}
	}
}

// storeFormat returns the directory format the open store's format record
// names.
func storeFormat(t *testing.T, s *Store) byte {
	t.Helper()
	var format byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyFormat)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) (err error) {
			format, err = decodeFormat(v)
			return err
		})
	})
	if err != nil {
		t.Fatalf("read the format record: %v", err)
	}
	return format
}

// setFormat makes the closed store in dir one of the given format, with
// or without an identity record: what a release of that format left.
func setFormat(t *testing.T, dir string, format byte, id *identity) {
	t.Helper()
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		if err := txn.Set(keyFormat, encodeFormat(format)); err != nil {
			return err
		}
		if id == nil {
			return txn.Delete(keyIdentity)
		}
		return txn.Set(keyIdentity, encodeIdentity(*id))
	})
}

// TestNewStoreFormat: a new store's format record names format 3 (the
// bytes testdata/records.golden locks), while its other records and its
// write-ahead log segments keep record version 2; reopening, writing,
// checkpointing and the value-log flush leave it so.
func TestNewStoreFormat(t *testing.T) {
	if got := encodeFormat(formatVersion); got[0] != 3 {
		t.Fatalf("encodeFormat(formatVersion) = %x, want a format 3 record", got)
	}
	dir := t.TempDir()
	s := openDisk(t, dir, Options{ClusterID: "c1", NodeID: "n1", FirstOpen: true})
	mustWrite(t, s, Batch{Entries: ents(1, 1, 20), HardState: &engine.HardState{Term: 1, Commit: 20}})
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 10, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(10); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	s.runGC() // flushDeletes writes and drops the 'x' key
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, Options{ClusterID: "c1", NodeID: "n1"})
	mustWrite(t, s, Batch{Entries: ents(1, 21, 22)})
	rawFormat := func() []byte {
		var v []byte
		err := s.db.View(func(txn *badger.Txn) error { v = rawGet(txn, keyFormat); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got, want := rawFormat(), encodeFormat(3); !bytes.Equal(got, want) {
		t.Errorf("format record = %x, want %x (format 3)", got, want)
	}
	if n := countKeys(t, s, kindIdentity); n != 0 {
		t.Errorf("a new store holds %d identity records, want none", n)
	}
	kinds := map[byte]bool{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().KeyCopy(nil)
			if key[0] == kindFormat {
				continue
			}
			kinds[key[0]] = true
			err := it.Item().Value(func(v []byte) error {
				if len(v) == 0 || v[0] != recordVersion {
					t.Errorf("record %x = %x: want record version %d first", key, v, recordVersion)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[byte]bool{kindRun: true, kindHardState: true, kindSnapshot: true, kindCheckpoint: true}; !maps.Equal(kinds, want) {
		t.Errorf("record kinds besides the format record: %q, want runs, hard state, snapshot and checkpoint", slices.Sorted(maps.Keys(kinds)))
	}
	head, err := os.ReadFile(s.wal.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(head) < walHeaderLen || head[8] != recordVersion {
		t.Errorf("write-ahead log segment header %x: want record version %d at byte 8", head[:min(len(head), walHeaderLen)], recordVersion)
	}
}

// TestFormatsThatOpen: directories of format 2 (with the identity record
// earlier releases wrote, or without one, as the release before this one
// wrote them) and of format 3 (with an identity record, which this code
// never writes there) open with their log intact, have their identity
// record checked where one exists, and keep their format and records.
func TestFormatsThatOpen(t *testing.T) {
	c1n1 := &identity{ClusterID: "c1", NodeID: "n1"}
	for _, tt := range []struct {
		name   string
		format byte
		id     *identity
	}{
		{"format 2 with identity record", formatV2, c1n1},
		{"format 2 without identity record", formatV2, nil},
		{"format 3 with identity record", formatVersion, c1n1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{ClusterID: "c1", NodeID: "n1"})
			mustWrite(t, s, Batch{Entries: ents(2, 1, 12), HardState: &engine.HardState{Term: 2, Commit: 12}})
			if err := s.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, s, Batch{Entries: ents(2, 13, 15)}) // in the WAL only
			s.Close()
			setFormat(t, dir, tt.format, tt.id)

			if tt.id != nil {
				err := openErr(dir, Options{ClusterID: "c1", NodeID: "n2"})()
				if !errors.Is(err, ErrIdentityMismatch) {
					t.Errorf("Open as node n2 = %v, want ErrIdentityMismatch", err)
				}
			} else {
				err := openErr(dir, Options{ClusterID: "c1", NodeID: "n1", FirstOpen: true})()
				if !errors.Is(err, ErrNoIdentity) {
					t.Errorf("first Open without any identity record = %v, want ErrNoIdentity", err)
				}
			}
			want := ents(2, 1, 15)
			for round := range 2 {
				s := openDisk(t, dir, Options{ClusterID: "c1", NodeID: "n1"})
				st := mustLoad(t, s)
				if diff := cmp.Diff(want, st.Entries, cmpEntries); diff != "" || st.HardState.Commit != 12 {
					t.Fatalf("round %d: commit %d, entries (-want +got):\n%s", round, st.HardState.Commit, diff)
				}
				e := ents(2, 16+uint64(round), 16+uint64(round))
				mustWrite(t, s, Batch{Entries: e})
				want = append(want, e...)
				if err := s.Checkpoint(); err != nil {
					t.Fatal(err)
				}
				if got := storeFormat(t, s); got != tt.format {
					t.Errorf("round %d: format %d after Open, want %d kept", round, got, tt.format)
				}
				if n, want := countKeys(t, s, kindIdentity), map[bool]int{false: 0, true: 1}[tt.id != nil]; n != want {
					t.Errorf("round %d: %d identity records, want %d", round, n, want)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestNewerFormatRefused: a directory whose format record names a format
// newer than 3 is refused with ErrFormat and a message naming the format,
// the formats this code reads and what to do, and nothing in it changes.
func TestNewerFormatRefused(t *testing.T) {
	for _, format := range []byte{formatVersion + 1, 255} {
		t.Run(fmt.Sprint(format), func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{})
			mustWrite(t, s, Batch{Entries: ents(1, 1, 6)})
			if err := s.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, s, Batch{Entries: ents(1, 7, 9)})
			s.Close()
			rawUpdate(t, dir, func(txn *badger.Txn) error {
				return txn.Set(keyFormat, seal(keyFormat, []byte{format}))
			})
			before := dirContent(t, dir)
			err := openErr(dir, Options{})()
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Open of format %d = %v, want ErrFormat", format, err)
			}
			for _, want := range []string{filepath.Join(dir, "raft"), fmt.Sprintf("log format %d", format), "reads formats 1, 2 and 3", "upgrade yggr"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if diff := cmp.Diff(before, dirContent(t, dir)); diff != "" {
				t.Errorf("a refused Open changed the store (-before +after):\n%s", diff)
			}
		})
	}
}

// dirContent returns every Badger key and value of the closed store in dir,
// and every write-ahead log file, hex encoded.
func dirContent(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out["badger "+hex.EncodeToString(it.Item().Key())] = hex.EncodeToString(v)
		}
		return nil
	})
	wal := filepath.Join(dir, "raft", "wal")
	files, err := os.ReadDir(wal)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(wal, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out["wal "+f.Name()] = hex.EncodeToString(b)
	}
	return out
}

// TestBadFormatRecord: a format record naming no format (0 or 1: format 1
// has no format record) or failing its checksum is corruption, not a
// newer format.
func TestBadFormatRecord(t *testing.T) {
	for _, tt := range []struct {
		name  string
		value []byte
	}{
		{"format 0", seal(keyFormat, []byte{0})},
		{"format 1", seal(keyFormat, []byte{1})},
		{"format 3, checksum damaged", func() []byte { v := encodeFormat(3); v[4] ^= 1; return v }()},
		{"format 2, checksum of format 3", append([]byte{2}, encodeFormat(3)[1:]...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{})
			s.Close()
			rawUpdate(t, dir, func(txn *badger.Txn) error { return txn.Set(keyFormat, tt.value) })
			checkCorrupt(t, "Open", openErr(dir, Options{}), "format record", filepath.Join(dir, "raft"))
		})
	}
}
