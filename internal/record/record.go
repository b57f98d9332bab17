package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// UpdateChecksum returns the CRC-32C of the bytes summed into crc followed
// by b: Checksum(x+y) == UpdateChecksum(Checksum(x), y).
func UpdateChecksum(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// Uvarint decodes a canonical uvarint (the shortest encoding of its value,
// as binary.AppendUvarint writes it) from the front of b and returns it
// and the number of bytes read; n <= 0 means b is truncated, overflows 64
// bits or is not the shortest encoding, so that whatever decodes
// re-encodes to the same bytes. (engine, which imports nothing, keeps its
// own copy of this rule for memberships.)
func Uvarint(b []byte) (v uint64, n int) {
	v, n = binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -n // a zero final byte adds nothing: overlong
	}
	return v, n
}

// ErrFormat is wrapped by every error a Reader reports.
var ErrFormat = errors.New("malformed record")

// AppendString8 appends s with a one-byte length prefix. s must be at most
// 255 bytes (callers validate their strings before encoding).
func AppendString8(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// Reader decodes a record body. The first failure sticks: later reads
// return zero values, and Err or Finish report it, so a decoder checks once
// at the end, or wherever a value drives control flow (a count before an
// allocation).
type Reader struct {
	b     []byte
	off   int // bytes consumed, for error messages
	err   error
	field string // named in the Reader's own failures (Field); "" for none
	wrap  error  // what failures wrap; nil: ErrFormat
}

// NewReader returns a Reader over b. Its failures wrap ErrFormat.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// NewReaderWrapping returns a Reader over b whose failures wrap sentinel
// (a package's own corruption error) instead of ErrFormat.
func NewReaderWrapping(b []byte, sentinel error) *Reader { return &Reader{b: b, wrap: sentinel} }

// Field names the field the next reads decode, so that their failures say
// which ("put key: truncated ..."), and returns r. The name holds until
// the next Field; Failf does not add it (its caller says what failed).
func (r *Reader) Field(name string) *Reader {
	r.field = name
	return r
}

// Err returns the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.b) }

// Failf records a failure found by the caller (an out-of-range value), if
// none is recorded yet.
func (r *Reader) Failf(format string, args ...any) {
	if r.err == nil {
		r.setErr(fmt.Sprintf(format, args...))
	}
	r.b = nil
}

// fail records a failure of the Reader's own, named after the current
// field.
func (r *Reader) fail(format string, args ...any) {
	if r.err == nil {
		msg := fmt.Sprintf(format, args...)
		if r.field != "" {
			msg = r.field + ": " + msg
		}
		r.setErr(msg)
	}
	r.b = nil
}

func (r *Reader) setErr(msg string) {
	wrap := r.wrap
	if wrap == nil {
		wrap = ErrFormat
	}
	r.err = fmt.Errorf("%w: at byte %d: %s", wrap, r.off, msg)
}

// Finish returns the first failure, or a failure if bytes are left over.
func (r *Reader) Finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.Failf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// Bytes returns the next n bytes, aliasing the input, or nil after a
// failure (n out of range is one).
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("truncated: %d bytes wanted, %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	r.off += n
	return v
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if v := r.Bytes(1); v != nil {
		return v[0]
	}
	return 0
}

// U16 reads a big-endian uint16.
func (r *Reader) U16() uint16 {
	if v := r.Bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if v := r.Bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if v := r.Bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Uvarint reads a canonical uvarint (see the function Uvarint).
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	r.off += n
	return v
}

// Count reads a uvarint element count and bounds it by the bytes left,
// given that every element takes at least minSize (> 0) bytes, so that the
// caller may allocate a slice of that length.
func (r *Reader) Count(minSize int) int {
	n := r.Uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail("count %d exceeds the %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

// LenBytes reads a uvarint length and then that many bytes, as
// binary.AppendUvarint and append write them. The result aliases the
// input; it is nil when empty or after a failure.
func (r *Reader) LenBytes() []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length %d exceeds the %d bytes left", n, len(r.b))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	r.off += int(n)
	return v
}

// String8 reads a string written by AppendString8 and fails if it is longer
// than max bytes.
func (r *Reader) String8(max int) string {
	n := int(r.U8())
	if r.err != nil {
		return ""
	}
	if n > max {
		r.fail("string of %d bytes, at most %d allowed", n, max)
		return ""
	}
	return string(r.Bytes(n))
}

// Use hands the unread bytes to decode, which returns how many it consumed
// or an error; the Reader then skips them or records the failure. It lets
// a format embed another package's encoding (engine.DecodeMembership).
func (r *Reader) Use(decode func(b []byte) (int, error)) {
	if r.err != nil {
		return
	}
	n, err := decode(r.b)
	if err != nil {
		r.Failf("%v", err)
		return
	}
	r.Bytes(n)
}

// Decode reads one value with another package's decoder, which returns
// the value and the number of bytes it took (engine.DecodeMembership). It
// returns T's zero value after a failure.
func Decode[T any](r *Reader, decode func([]byte) (T, int, error)) T {
	var v T
	r.Use(func(b []byte) (n int, err error) {
		v, n, err = decode(b)
		return n, err
	})
	if r.err != nil {
		var zero T
		return zero
	}
	return v
}
