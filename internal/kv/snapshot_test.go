package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/internal/record"
)

// snapshotBytes writes s's snapshot to memory.
func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.Snapshot().WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// populated returns a store with a few items and applied index 7.
func populated(t testing.TB) *Store {
	s := New()
	applyAll(t, s, put("b", "2"), put("a", "1"), put("c", ""), put("a", "11"), del("b"), put("d\x00", "\xff"))
	s.ApplyNoop(7)
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	big := New()
	for i := range 2000 {
		applyAll(t, big, put(fmt.Sprintf("key%05d", i*7%2000), strconv.Itoa(i)))
		if i%3 == 0 {
			applyAll(t, big, del(fmt.Sprintf("key%05d", i/2)))
		}
	}
	batches := New() // Restore inserts in batches of restoreBatch
	for i := range 2*restoreBatch + 7 {
		applyAll(t, batches, put(fmt.Sprintf("k%06d", i*7919%(2*restoreBatch+7)), "v"))
	}
	long := New() // key lengths that take one and two uvarint bytes
	for _, n := range []int{9, 127, 128, 129, 300} {
		applyAll(t, long, put(longKey(n, 'a'), strconv.Itoa(n)), put(longKey(n, 'b'), ""))
	}
	large := New()
	applyAll(t, large, EncodePut([]byte("large"), bytes.Repeat([]byte("0123456789"), restoreChunkBytes/4)), put("small", "x"))
	tests := []struct {
		name string
		s    *Store
	}{
		{"empty", New()},
		{"noop only", func() *Store { s := New(); s.ApplyNoop(3); return s }()},
		{"few", populated(t)},
		{"many", big},
		{"over two restore batches", batches},
		{"long keys", long},
		{"value over one chunk", large},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snapshotBytes(t, tt.s)
			r := populated(t) // Restore replaces whatever was there
			if err := r.Restore(bytes.NewReader(b)); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if diff := cmp.Diff(all(tt.s), all(r), equalBytes); diff != "" {
				t.Errorf("restored items (-want +got):\n%s", diff)
			}
			if got, want := r.Applied(), tt.s.Applied(); got != want {
				t.Errorf("restored Applied() = %d, want %d", got, want)
			}
			if got, want := r.Len(), tt.s.Len(); got != want {
				t.Errorf("restored Len() = %d, want %d", got, want)
			}
			if again := snapshotBytes(t, r); !bytes.Equal(again, b) {
				t.Errorf("snapshot of the restored store differs from the original")
			}
			// The restored store keeps working.
			applyAll(t, r, put("a", "after"))
			if it, _ := r.Get([]byte("a")); string(it.Value) != "after" {
				t.Errorf("Get(a) after restore and put = %q, want %q", it.Value, "after")
			}
		})
	}
}

func TestSnapshotGolden(t *testing.T) {
	sn := populated(t).Snapshot()
	if got, want := sn.Index(), uint64(7); got != want {
		t.Errorf("Index() = %d, want %d", got, want)
	}
	if got, want := sn.Len(), 3; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	goldenCheck(t, "snapshot.golden", hexLines([]namedBytes{{"populated", buf.Bytes()}}))
}

// TestSnapshotPointInTime writes a snapshot on another goroutine while the
// apply loop keeps applying; the stream must hold the state as of the
// Snapshot call.
func TestSnapshotPointInTime(t *testing.T) {
	s := New()
	for i := range 500 {
		applyAll(t, s, put(fmt.Sprintf("k%04d", i), "before"))
	}
	want, wantIndex := all(s), s.Applied()
	sn := s.Snapshot()
	type written struct {
		b   []byte
		err error
	}
	out := make(chan written, 1)
	// Owned by this test; ends when WriteTo returns; the test waits on out.
	go func() {
		var buf bytes.Buffer
		_, err := sn.WriteTo(&buf)
		out <- written{buf.Bytes(), err}
	}()
	for i := range 500 {
		k := fmt.Sprintf("k%04d", i)
		if i%2 == 0 {
			applyAll(t, s, del(k))
		} else {
			applyAll(t, s, put(k, "after"), put(k+"x", "new"))
		}
	}
	w := <-out
	if w.err != nil {
		t.Fatalf("WriteTo: %v", w.err)
	}
	r := New()
	if err := r.Restore(bytes.NewReader(w.b)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if diff := cmp.Diff(want, all(r)); diff != "" {
		t.Errorf("snapshot is not point-in-time (-want +got):\n%s", diff)
	}
	if got := r.Applied(); got != wantIndex {
		t.Errorf("restored Applied() = %d, want %d", got, wantIndex)
	}
	if got, want := s.Len(), 500; got != want {
		t.Errorf("live store Len() = %d, want %d", got, want)
	}
}

// withCRC appends the trailer to a hand-built stream body.
func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(body, record.Checksum(body))
}

// rawItem appends one item record with the given fields.
func rawItem(b []byte, key, value string, create, mod, version uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = binary.AppendUvarint(b, uint64(len(value)))
	b = binary.AppendUvarint(b, create)
	b = binary.AppendUvarint(b, mod)
	b = binary.AppendUvarint(b, version)
	return append(append(b, key...), value...)
}

// rawHeader returns a stream header for index and count.
func rawHeader(index, count uint64) []byte {
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = binary.AppendUvarint(b, index)
	return binary.AppendUvarint(b, count)
}

// assertRestoreFails checks that Restore of b fails with ErrCorrupt and
// leaves s as it was.
func assertRestoreFails(t *testing.T, s *Store, b []byte, what string) {
	t.Helper()
	beforeItems, beforeIndex := all(s), s.Applied()
	err := s.Restore(bytes.NewReader(b))
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("%s: Restore err = %v, want ErrCorrupt", what, err)
	}
	if diff := cmp.Diff(beforeItems, all(s)); diff != "" {
		t.Errorf("%s: state changed by a failed Restore (-before +after):\n%s", what, diff)
	}
	if got := s.Applied(); got != beforeIndex {
		t.Errorf("%s: Applied() = %d after a failed Restore, want %d", what, got, beforeIndex)
	}
}

func TestRestoreCorrupt(t *testing.T) {
	s := populated(t)
	good := snapshotBytes(t, s)
	target := New()
	applyAll(t, target, put("keep", "me"))
	for i := range good {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] ^= mask
			assertRestoreFails(t, target, b, fmt.Sprintf("byte %d ^ %#x", i, mask))
		}
	}
	for n := range len(good) {
		assertRestoreFails(t, target, good[:n], fmt.Sprintf("truncated to %d of %d bytes", n, len(good)))
	}
	assertRestoreFails(t, target, append(bytes.Clone(good), 0), "trailing byte")
	assertRestoreFails(t, target, append(bytes.Clone(good), good...), "stream twice")
}

// TestRestoreInvalid feeds streams with a valid checksum but invalid
// content.
func TestRestoreInvalid(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"bad magic", withCRC(append([]byte("YGKW\x01"), 0, 0))},
		{"unknown version", withCRC(append([]byte("YGKV\x02"), 0, 0))},
		{"overlong index", withCRC(append([]byte("YGKV\x01"), 0x80, 0x00, 0))},
		{"count past the items", withCRC(rawItem(rawHeader(5, 2), "a", "1", 1, 1, 1))},
		{"count short of the items", withCRC(rawItem(rawItem(rawHeader(5, 1), "a", "1", 1, 1, 1), "b", "1", 1, 1, 1))},
		{"empty key", withCRC(rawItem(rawHeader(5, 1), "", "1", 1, 1, 1))},
		{"duplicate key", withCRC(rawItem(rawItem(rawHeader(5, 2), "a", "1", 1, 1, 1), "a", "2", 2, 2, 1))},
		{"keys out of order", withCRC(rawItem(rawItem(rawHeader(5, 2), "b", "1", 1, 1, 1), "a", "2", 2, 2, 1))},
		{"create index 0", withCRC(rawItem(rawHeader(5, 1), "a", "1", 0, 1, 1))},
		{"create after mod", withCRC(rawItem(rawHeader(5, 1), "a", "1", 3, 2, 1))},
		{"mod after applied", withCRC(rawItem(rawHeader(5, 1), "a", "1", 1, 6, 1))},
		{"version 0", withCRC(rawItem(rawHeader(5, 1), "a", "1", 1, 1, 0))},
		{"key over the bound", withCRC(rawItem(rawHeader(5, 1), string(make([]byte, maxRestoreKeyBytes+1)), "", 1, 1, 1))},
		{"huge value length", withCRC(append(rawHeader(5, 1), 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1, 1, 'a'))},
		{"uvarint overflow in item", withCRC(append(rawHeader(5, 1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))},
		{"bad checksum", append(rawHeader(5, 0), 0, 0, 0, 0)},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := New()
			applyAll(t, target, put("keep", "me"))
			assertRestoreFails(t, target, tt.b, tt.name)
		})
	}
	// The builders make valid streams when the content is valid.
	ok := withCRC(rawItem(rawItem(rawHeader(5, 2), "a", "1", 1, 3, 2), "b", "", 5, 5, 1))
	if err := New().Restore(bytes.NewReader(ok)); err != nil {
		t.Errorf("Restore of a valid hand-built stream: %v", err)
	}
}

// TestRestoreBoundsAllocation: a value length of almost 1 GiB in a stream
// of a few bytes must not allocate anything like it.
func TestRestoreBoundsAllocation(t *testing.T) {
	b := append(rawHeader(5, 1), 1)
	b = binary.AppendUvarint(b, maxRestoreValueBytes)
	b = append(b, 1, 1, 1, 'a', 'v', 'v', 'v')
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := New().Restore(bytes.NewReader(b))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Restore err = %v, want ErrCorrupt and io.ErrUnexpectedEOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("Restore allocated %d bytes for a %d-byte stream", got, len(b))
	}
}

var errBoom = errors.New("boom")

// failingReader returns data and then errBoom.
type failingReader struct{ data []byte }

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errBoom
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestRestoreReadError(t *testing.T) {
	good := snapshotBytes(t, populated(t))
	for _, n := range []int{0, 3, 7, len(good) / 2, len(good) - 2, len(good)} {
		target := New()
		applyAll(t, target, put("keep", "me"))
		err := target.Restore(&failingReader{data: good[:n]})
		if !errors.Is(err, errBoom) {
			t.Errorf("Restore with a reader failing after %d bytes: err = %v, want errBoom", n, err)
		}
		if diff := cmp.Diff([]Item{item("keep", "me", 1, 1, 1)}, all(target)); diff != "" {
			t.Errorf("state changed by a failed Restore (-want +got):\n%s", diff)
		}
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct{ limit, n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		k := w.limit - w.n
		w.n = w.limit
		return k, errBoom
	}
	w.n += len(p)
	return len(p), nil
}

func TestSnapshotWriteError(t *testing.T) {
	s := New()
	for i := range 20000 {
		applyAll(t, s, put(fmt.Sprintf("key%06d", i), "some value bytes"))
	}
	sn := s.Snapshot()
	for _, limit := range []int{0, 100, 300 << 10} {
		w := &failingWriter{limit: limit}
		n, err := sn.WriteTo(w)
		if !errors.Is(err, errBoom) {
			t.Errorf("WriteTo(fails after %d): err = %v, want errBoom", limit, err)
		}
		if n != int64(w.n) {
			t.Errorf("WriteTo(fails after %d) = %d, want %d (the bytes accepted)", limit, n, w.n)
		}
	}
}

// checkRestore is the property of the Restore fuzz targets: Restore never
// panics, leaves the store unchanged on error, and what it accepts writes
// back byte for byte.
func checkRestore(t *testing.T, b []byte) {
	s := New()
	s.Apply(1, put("keep", "me"))
	err := s.Restore(bytes.NewReader(b))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if it, ok := s.Get([]byte("keep")); !ok || string(it.Value) != "me" || s.Len() != 1 || s.Applied() != 1 {
			t.Fatalf("failed Restore changed the store")
		}
		return
	}
	var buf bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), b) {
		t.Fatalf("rewritten snapshot %x, want %x", buf.Bytes(), b)
	}
}

// restoreSeeds are stream bodies (without the checksum) for the fuzz
// corpora.
func restoreSeeds(f *testing.F) [][]byte {
	good := snapshotBytes(f, populated(f))
	empty := snapshotBytes(f, New())
	v2 := snapshotBytes(f, leased(f))
	return [][]byte{
		good[:len(good)-4],
		v2[:len(v2)-4],
		rawV2Item(rawV2(5, [][2]uint64{{3, 10}}, 1), "a", "1", 1, 1, 1, 4),
		empty[:len(empty)-4],
		rawItem(rawHeader(5, 1), "a", "1", 1, 1, 0),
		append(rawHeader(5, 1), 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1, 1, 'a'),
		rawItem(rawItem(rawHeader(5, 2), "b", "1", 1, 1, 1), "a", "2", 2, 2, 1),
	}
}

// FuzzRestore feeds raw streams; most fail the checksum.
func FuzzRestore(f *testing.F) {
	for _, body := range restoreSeeds(f) {
		f.Add(withCRC(body))
	}
	f.Fuzz(checkRestore)
}

// FuzzRestoreBody feeds stream bodies with a correct checksum appended, so
// that the fuzzer explores the validation past the checksum.
func FuzzRestoreBody(f *testing.F) {
	for _, body := range restoreSeeds(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkRestore(t, withCRC(body)) })
}
