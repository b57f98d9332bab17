package kv

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// TestSnapshotDropsClone checks that a snapshot's first WriteTo replaces
// its tree clone with a blobList (the clone kept most of the tree live twice
// while a paced snapshot was written; see blobList), and that the blobs the
// list points to stay alive without the clone: slab blobs through the
// pinSet, heap blobs (over maxBlob) through the list's big. Every key is
// then overwritten with a value of the same size, so that a freed blob's
// memory is likely reused, and the snapshot written again after
// collections must not change.
func TestSnapshotDropsClone(t *testing.T) {
	s := newStoreSlab(1024) // maxBlob 64: the 200-byte values are heap blobs
	const keys = 300
	value := func(k, round int) []byte {
		v := fmt.Appendf(nil, "value of %d in round %d ", k, round)
		if k%3 == 0 {
			v = append(v, bytes.Repeat([]byte{byte('a' + round)}, 200)...)
		}
		return v
	}
	index := uint64(0)
	for k := range keys {
		index++
		s.Apply(index, EncodePut(fmt.Appendf(nil, "key%04d", k), value(k, 0)))
	}
	sn := s.Snapshot()
	var before bytes.Buffer
	if _, err := sn.WriteTo(&before); err != nil {
		t.Fatal(err)
	}
	if sn.tree != nil {
		t.Fatal("the snapshot still holds its tree clone after WriteTo")
	}
	if got, want := len(sn.items.refs), keys; got != want {
		t.Fatalf("blobList holds %d blobs, want %d", got, want)
	}
	if got, want := len(sn.items.big), keys/3; got != want {
		t.Fatalf("blobList keeps %d heap blobs, want %d (every third value is over maxBlob)", got, want)
	}
	for round := 1; round <= 4; round++ {
		for k := range keys {
			index++
			s.Apply(index, EncodePut(fmt.Appendf(nil, "key%04d", k), value(k, round)))
		}
		runtime.GC()
	}
	var after bytes.Buffer
	if _, err := sn.WriteTo(&after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Fatal("the snapshot's bytes changed after the store overwrote every key")
	}
	r := New()
	if err := r.Restore(bytes.NewReader(after.Bytes())); err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		it, ok := r.Get(fmt.Appendf(nil, "key%04d", k))
		if !ok || !bytes.Equal(it.Value, value(k, 0)) {
			t.Fatalf("restored key %d = %q %v, want round 0's value", k, it.Value, ok)
		}
	}
	if got := sn.Len(); got != keys {
		t.Fatalf("Len() = %d, want %d", got, keys)
	}
}

// TestSnapshotEmpty writes the snapshot of an empty store, twice.
func TestSnapshotEmpty(t *testing.T) {
	sn := New().Snapshot()
	for range 2 {
		var buf bytes.Buffer
		if _, err := sn.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		r := New()
		if err := r.Restore(&buf); err != nil || r.Len() != 0 {
			t.Fatalf("Restore: %v, Len %d", err, r.Len())
		}
	}
}
