package log

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"
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
	f.Add(entryKey(5), []byte{1})
	f.Add(keySnapshot, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0})
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

// FuzzRecovery damages the entries of a store (overwriting values with
// fuzzed bytes, deleting keys) and runs recovery. It must never panic, and
// whatever it accepts must be the original entries or records the fuzzer
// wrote that verify; anything else must be dropped as a tail or refused with
// ErrCorrupt.
func FuzzRecovery(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{20, 0, 1, 0xff})                // garbage at the last entry
	f.Add([]byte{10, 1, 0})                      // delete in the middle
	f.Add([]byte{19, 0, 2, 1, 2, 20, 1, 0})      // garbage, then delete the last
	f.Add([]byte{5, 0, 0, 21, 0, 3, 1, 0, 0})    // empty value in the middle, garbage after the end
	f.Add([]byte{18, 1, 0, 19, 1, 0, 20, 1, 0})  // delete the last three
	f.Add([]byte{20, 0, 5, 1, 0, 0, 0, 0, 0, 0}) // short record with version 1
	const n = 20
	f.Fuzz(func(t *testing.T, ops []byte) {
		s, err := Open("", Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var orig []engine.Entry
		for i := uint64(1); i <= n; i++ {
			orig = append(orig, engine.Entry{Index: i, Term: 1 + i/5, Data: testData(i, 1+i/5)})
		}
		mustWrite(t, s, Batch{Entries: orig, HardState: &engine.HardState{Term: 5, Commit: 10}})
		written := map[uint64][]byte{} // damaged keys: their new value, nil if deleted
		err = s.db.Update(func(txn *badger.Txn) error {
			for len(ops) >= 3 {
				i, del, l := uint64(ops[0]%(n+4)), ops[1]&1 == 1, int(ops[2])
				ops = ops[3:]
				if del {
					written[i] = nil
					if err := txn.Delete(entryKey(i)); err != nil {
						return err
					}
					continue
				}
				v := bytes.Clone(ops[:min(l, len(ops))])
				ops = ops[len(v):]
				written[i] = v
				if err := txn.Set(entryKey(i), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.hs, s.snap, s.last, s.lastTerm, s.dropped = engine.HardState{}, engine.SnapshotMeta{}, 0, 0, nil
		if err := s.recover(); err != nil {
			t.Logf("refused: %v", err)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("recover: %v, want nil or ErrCorrupt", err)
			}
			return
		}
		st, err := s.Load()
		if err != nil {
			t.Fatalf("Load after a successful recovery: %v", err)
		}
		t.Logf("accepted %d entries, dropped %q", len(st.Entries), st.Dropped)
		for j, e := range st.Entries {
			if e.Index != uint64(j+1) {
				t.Fatalf("entry %d at position %d", e.Index, j)
			}
			v, damaged := written[e.Index]
			switch {
			case !damaged && e.Index <= n:
				if !reflect.DeepEqual(e, orig[e.Index-1]) {
					t.Fatalf("entry %d changed without damage: %v", e.Index, e)
				}
			case !bytes.Equal(v, encodeEntry(e)):
				t.Fatalf("entry %d accepted from damaged record %x", e.Index, v)
			}
		}
	})
}
