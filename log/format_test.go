package log

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
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

// sampleRecords returns every sample record as (name, key, value).
func sampleRecords() [][3]string {
	var out [][3]string
	add := func(name string, k, v []byte) { out = append(out, [3]string{name, string(k), string(v)}) }
	for _, e := range sampleEntries {
		add("entry "+e.String(), entryKey(e.Index), encodeEntry(e))
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
	return out
}

// TestGoldenRecords locks the on-disk bytes: a format change shows as a
// diff of testdata/records.golden (regenerate with -update).
func TestGoldenRecords(t *testing.T) {
	var b strings.Builder
	for _, r := range sampleRecords() {
		fmt.Fprintf(&b, "%s\n  key   %s\n  value %s\n", r[0], hex.EncodeToString([]byte(r[1])), hex.EncodeToString([]byte(r[2])))
	}
	path := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("record bytes changed (-golden +now):\n%s", diff)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, e := range sampleEntries {
		got, err := decodeEntry(e.Index, encodeEntry(e))
		if err != nil {
			t.Fatalf("decodeEntry(%v): %v", e, err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Errorf("entry round trip (-want +got):\n%s", diff)
		}
		term, err := decodeEntryTerm(e.Index, encodeEntry(e))
		if err != nil || term != e.Term {
			t.Errorf("decodeEntryTerm(%v) = %d, %v, want %d, nil", e, term, err, e.Term)
		}
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
}

// decodeRecord decodes value v stored under key with the matching decoder
// and re-encodes the result; ok is false if decoding failed.
func decodeRecord(key, v []byte) (reencoded []byte, err error) {
	switch {
	case len(key) == entryKeyLen && key[0] == kindEntry:
		i, _ := parseEntryKey(key)
		e, err := decodeEntry(i, v)
		term, terr := decodeEntryTerm(i, v)
		if (err == nil) != (terr == nil) || (err == nil && term != e.Term) {
			return nil, fmt.Errorf("decodeEntry and decodeEntryTerm disagree: %v/%d vs %v/%d", err, e.Term, terr, term)
		}
		if err != nil {
			return nil, err
		}
		return encodeEntry(e), nil
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
	}
	return nil, errors.New("unknown key")
}

func TestFlippedBytesAreDetected(t *testing.T) {
	for _, r := range sampleRecords() {
		key, v := []byte(r[1]), []byte(r[2])
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
