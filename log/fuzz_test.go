package log

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// FuzzDecodeRecord feeds arbitrary values to the record decoders under each
// kind of key. A decoder must never panic, and whatever it accepts must be
// exactly the encoding of what it returned: damaged bytes can only be
// accepted if the damage left a valid record (a CRC-32C collision), never
// decoded into different data.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add([]byte(r[1]), []byte(r[2]))
	}
	f.Add(runID{5, 6, 1}.key(), []byte{2})
	f.Add(keySnapshot, []byte{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0})
	framed := func(body ...byte) []byte { return frameRecord(1, append(make([]byte, walRecHeaderLen), body...)) }
	f.Add([]byte{}, framed(opBatch, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff))
	// No entries, yet a first index: not what appendBatch writes.
	f.Add([]byte{}, framed(opBatch, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0', '0', '0', '0', '0', '0', '0', '0', 0, 0, 0, 0))
	f.Add(keyHardState, []byte{})
	f.Fuzz(func(t *testing.T, key, v []byte) {
		re, err := decodeRecord(key, v)
		if err != nil {
			return
		}
		if !bytes.Equal(re, v) {
			t.Fatalf("decoder accepted %x under key %x, which re-encodes as %x", v, key, re)
		}
	})
}

// FuzzDamagedRecord damages a valid record (flipping bits in a byte, or
// cutting it) and checks that the decoder rejects it.
func FuzzDamagedRecord(f *testing.F) {
	for i := range sampleRecords() {
		f.Add(uint8(i), uint16(0), uint8(1), uint16(0))
		f.Add(uint8(i), uint16(7), uint8(0x80), uint16(3))
	}
	records := sampleRecords()
	f.Fuzz(func(t *testing.T, which uint8, pos uint16, mask uint8, cut uint16) {
		r := records[int(which)%len(records)]
		key, v := []byte(r[1]), bytes.Clone([]byte(r[2]))
		if mask != 0 {
			v[int(pos)%len(v)] ^= mask
		}
		if c := int(cut) % len(v); c > 0 {
			v = v[:len(v)-c]
		}
		if mask == 0 && int(cut)%len(r[2]) == 0 {
			return // undamaged
		}
		if _, err := decodeRecord(key, v); err == nil {
			t.Fatalf("%s: damaged record %x accepted (flip %02x at %d, cut %d)", r[0], v, mask, pos, cut)
		}
	})
}

// FuzzRecovery damages the write-ahead log of a closed store (flipping
// bytes at fuzzed offsets, or zeroing a range) and reopens it. Open must
// never panic. It may refuse with ErrCorrupt; if it accepts, the log must
// be the original log cut after some record: a damaged record can only be
// dropped as a torn tail together with everything after it, with a note,
// never decoded into different entries, and nothing checkpointed into
// Badger is lost. Records zeroed whole through the end of the log are the
// one loss without a note: a log whose last writes never reached the disk
// looks the same.
func FuzzRecovery(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 200, 1, 0x40})         // flip a byte in the first record after the checkpoint
	f.Add([]byte{1, 0, 3, 0xff})           // flip a byte in the last record
	f.Add([]byte{2, 90, 0, 0})             // zero the last record from its middle on
	f.Add([]byte{0, 16, 0, 1, 1, 0, 3, 1}) // damage two records
	f.Fuzz(func(t *testing.T, ops []byte) {
		dir := t.TempDir()
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		var orig []engine.Entry
		var ends []int64 // WAL offset after each record
		for b := uint64(0); b < 8; b++ {
			es := ents(1+b/3, 1+3*b, 3+3*b)
			orig = append(orig, es...)
			mustWrite(t, s, Batch{Entries: es, HardState: &engine.HardState{Term: 1 + b/3, Commit: 3 * b}})
			ends = append(ends, s.wal.off)
			if b == 2 {
				if err := s.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
		}
		seg := s.wal.f.Name()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		// Damage only the records after the checkpoint (records 3..7,
		// counting from 0): the ones before are no longer read.
		for len(ops) >= 4 {
			rec := 3 + int(ops[0])%5
			lo, hi := ends[rec-1], ends[rec]
			off := lo + int64(ops[1])%(hi-lo)
			if ops[2]&1 == 0 {
				data[off] ^= max(ops[3], 1)
			} else {
				clear(data[off:min(off+int64(ops[3]), ends[len(ends)-1])])
			}
			ops = ops[4:]
		}
		if err := os.WriteFile(seg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, Options{NoSync: true})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want nil or ErrCorrupt", err)
			}
			t.Logf("refused: %v", err)
			return
		}
		defer s.Close()
		st, err := s.Load()
		if err != nil {
			t.Fatalf("Load after a successful Open: %v", err)
		}
		t.Logf("accepted %d entries, dropped %q", len(st.Entries), st.Dropped)
		if len(st.Entries) < 9 || len(st.Entries)%3 != 0 {
			t.Fatalf("accepted %d entries: want the 9 checkpointed ones and whole records after them", len(st.Entries))
		}
		if !reflect.DeepEqual(st.Entries, orig[:len(st.Entries)]) {
			t.Fatalf("accepted entries differ from the ones written")
		}
		// Records dropped without a note must be zeros whole, through the
		// end of what was written: that is what a crash before their
		// writes leaves, and no format can tell it from records that
		// were written and then zeroed (docs/disk-faults.md, Limits).
		if kept := len(st.Entries) / 3; kept < len(ends) && len(st.Dropped) == 0 && !allZero(data[ends[kept-1]:ends[len(ends)-1]]) {
			t.Fatalf("lost records %d.. without a note", kept+1)
		}
	})
}
