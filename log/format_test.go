package log

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

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
	add("format", keyFormat, encodeFormat())
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
		if _, err := unseal(key, v, formatVersion); err != nil {
			return nil, err
		}
		return encodeFormat(), nil
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
