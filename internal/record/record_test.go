package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestChecksum(t *testing.T) {
	b := []byte("yggr records")
	if got, want := Checksum(b), crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Fatalf("Checksum = %08x, want %08x", got, want)
	}
	if got, want := UpdateChecksum(Checksum(b[:4]), b[4:]), Checksum(b); got != want {
		t.Fatalf("UpdateChecksum = %08x, want %08x", got, want)
	}
	// The CRC-32C check value of "123456789".
	if got := Checksum([]byte("123456789")); got != 0xe3069283 {
		t.Fatalf("Checksum(123456789) = %08x, want e3069283", got)
	}
}

func TestReaderRoundTrip(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = binary.BigEndian.AppendUint16(b, 0x1234)
	b = binary.BigEndian.AppendUint32(b, 0xdeadbeef)
	b = binary.BigEndian.AppendUint64(b, 1<<60+5)
	b = AppendString8(b, "n1")
	b = append(b, "xyz"...)
	b = append(b, 9, 9)
	r := NewReader(b)
	if got := r.U8(); got != 7 {
		t.Errorf("U8 = %d", got)
	}
	if got := r.U16(); got != 0x1234 {
		t.Errorf("U16 = %x", got)
	}
	if got := r.U32(); got != 0xdeadbeef {
		t.Errorf("U32 = %x", got)
	}
	if got := r.U64(); got != 1<<60+5 {
		t.Errorf("U64 = %d", got)
	}
	if got := r.String8(2); got != "n1" {
		t.Errorf("String8 = %q", got)
	}
	if got := string(r.Bytes(3)); got != "xyz" {
		t.Errorf("Bytes = %q", got)
	}
	r.Use(func(b []byte) (int, error) { return 1, nil })
	if r.Len() != 1 {
		t.Errorf("Len after Use = %d, want 1", r.Len())
	}
	if err := r.Finish(); err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "1 trailing bytes") {
		t.Errorf("Finish with a byte left = %v, want trailing bytes", err)
	}
}

func TestReaderFailuresStick(t *testing.T) {
	r := NewReader([]byte{1, 2, 3})
	if got := r.U32(); got != 0 {
		t.Errorf("U32 of 3 bytes = %d, want 0", got)
	}
	if r.Err() == nil || !errors.Is(r.Err(), ErrFormat) {
		t.Fatalf("Err = %v, want ErrFormat", r.Err())
	}
	first := r.Err()
	if got := r.U8(); got != 0 {
		t.Errorf("U8 after a failure = %d, want 0", got)
	}
	r.Failf("second")
	if r.Err() != first || r.Finish() != first {
		t.Errorf("the first failure did not stick: %v", r.Err())
	}

	long := NewReader(AppendString8(nil, "abc"))
	if s := long.String8(2); s != "" || long.Err() == nil {
		t.Errorf("String8 over max = %q, %v", s, long.Err())
	}
	short := NewReader([]byte{5, 'a'})
	if s := short.String8(10); s != "" || short.Err() == nil {
		t.Errorf("String8 truncated = %q, %v", s, short.Err())
	}
	neg := NewReader([]byte{1})
	if b := neg.Bytes(-1); b != nil || neg.Err() == nil {
		t.Errorf("Bytes(-1) = %v, %v", b, neg.Err())
	}
	use := NewReader([]byte{1, 2})
	use.Use(func([]byte) (int, error) { return 0, errors.New("bad inner") })
	if use.Err() == nil || !strings.Contains(use.Err().Error(), "bad inner") {
		t.Errorf("Use failure = %v", use.Err())
	}
	use.Use(func([]byte) (int, error) { t.Error("decode called after a failure"); return 0, nil })
}

// FuzzReader: no input makes a Reader panic, and a failure always sticks.
func FuzzReader(f *testing.F) {
	f.Add([]byte{2, 'n', '1', 0, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		_ = r.String8(8)
		_ = r.U64()
		_ = r.Bytes(int(r.U8()))
		if err := r.Err(); err != nil {
			if r.U8() != 0 || r.Finish() != err {
				t.Fatal("failure did not stick")
			}
		}
	})
}

func TestUvarint(t *testing.T) {
	for _, tc := range []struct {
		in    []byte
		v     uint64
		n     int
		valid bool
	}{
		{in: []byte{0}, v: 0, n: 1, valid: true},
		{in: []byte{0x7f, 9}, v: 127, n: 1, valid: true},
		{in: []byte{0x80, 1}, v: 128, n: 2, valid: true},
		{in: []byte{0x80, 0}},                // 0 with a redundant byte: overlong
		{in: []byte{0x81, 0x80, 0}},          // 1 padded twice
		{in: []byte{0x80}},                   // truncated
		{in: bytes.Repeat([]byte{0xff}, 11)}, // overflows 64 bits
	} {
		v, n := Uvarint(tc.in)
		if valid := n > 0; valid != tc.valid || (valid && (v != tc.v || n != tc.n)) {
			t.Errorf("Uvarint(%x) = %d, %d; want %d, %d (valid %v)", tc.in, v, n, tc.v, tc.n, tc.valid)
		}
	}
}

// FuzzUvarint: Uvarint accepts exactly the encodings binary.AppendUvarint
// writes.
func FuzzUvarint(f *testing.F) {
	f.Add([]byte{0x80, 1})
	f.Add([]byte{0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n := Uvarint(b)
		if n <= 0 {
			if w, k := binary.Uvarint(b); k > 0 && bytes.Equal(binary.AppendUvarint(nil, w), b[:k]) {
				t.Fatalf("Uvarint refused canonical %x", b[:k])
			}
			return
		}
		if got := binary.AppendUvarint(nil, v); !bytes.Equal(got, b[:n]) {
			t.Fatalf("Uvarint(%x) = %d in %d bytes, which encodes as %x", b, v, n, got)
		}
	})
}

func TestDecode(t *testing.T) {
	pair := func(b []byte) ([2]byte, int, error) {
		if len(b) < 2 {
			return [2]byte{}, 0, errors.New("short pair")
		}
		return [2]byte{b[0], b[1]}, 2, nil
	}
	r := NewReader([]byte{1, 2, 3})
	if got := Decode(r, pair); got != [2]byte{1, 2} || r.Len() != 1 {
		t.Fatalf("Decode = %v with %d bytes left; want [1 2] with 1", got, r.Len())
	}
	if got := Decode(r, pair); got != [2]byte{} || !errors.Is(r.Err(), ErrFormat) {
		t.Fatalf("Decode of a short pair = %v, err %v; want zero and ErrFormat", got, r.Err())
	}
}

func TestReaderVarints(t *testing.T) {
	b := binary.AppendUvarint(nil, 300)
	b = binary.AppendUvarint(b, 2) // a count of two 1-byte elements
	b = append(b, 7, 8)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	b = binary.AppendUvarint(b, 0) // empty bytes
	r := NewReader(b)
	if v := r.Uvarint(); v != 300 {
		t.Errorf("Uvarint = %d, want 300", v)
	}
	if n := r.Count(1); n != 2 || !bytes.Equal(r.Bytes(n), []byte{7, 8}) {
		t.Errorf("Count = %d, want 2 elements 7, 8", n)
	}
	if s := r.LenBytes(); string(s) != "abc" || cap(s) != 3 {
		t.Errorf("LenBytes = %q (cap %d), want abc with cap 3", s, cap(s))
	}
	if s := r.LenBytes(); s != nil {
		t.Errorf("empty LenBytes = %q, want nil", s)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}

	sentinel := errors.New("pkg: corrupt")
	for _, tt := range []struct {
		b    []byte
		read func(*Reader)
		want string
	}{
		{[]byte{0x81, 0x00}, func(r *Reader) { r.Field("index").Uvarint() }, "at byte 0: index: bad uvarint"},
		{[]byte{1, 5}, func(r *Reader) { r.U8(); r.Field("name").LenBytes() }, "at byte 2: name: length 5 exceeds the 0 bytes left"},
		{[]byte{3, 1}, func(r *Reader) { r.Field("items").Count(1) }, "items: count 3 exceeds the 1 bytes left"},
		{[]byte{}, func(r *Reader) { r.Field("flags").U8() }, "flags: truncated: 1 bytes wanted, 0 left"},
		{[]byte{1}, func(r *Reader) { r.Field("op").U8(); r.Failf("unknown op %d", 1) }, "at byte 1: unknown op 1"},
	} {
		r := NewReaderWrapping(tt.b, sentinel)
		tt.read(r)
		err := r.Err()
		if !errors.Is(err, sentinel) || errors.Is(err, ErrFormat) || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("reading %x: %v, want an error wrapping the sentinel ending %q", tt.b, err, tt.want)
		}
	}
	if r := NewReader([]byte{0x80}); r.Field("x").Uvarint() != 0 || !errors.Is(r.Err(), ErrFormat) {
		t.Errorf("a truncated uvarint: %v, want ErrFormat", r.Err())
	}
}
