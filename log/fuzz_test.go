package log

import (
	"bytes"
	"testing"
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
