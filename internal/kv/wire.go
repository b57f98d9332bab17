package kv

import (
	"encoding/binary"
	"fmt"

	"github.com/yggrdb/yggr/internal/record"
)

// This file holds the primitives shared by the command, result and snapshot
// encodings: canonical uvarints (record.Uvarint) and uvarint-length-prefixed
// byte strings.
// Every decoder rejects what the matching encoder would never write
// (overlong uvarints, unknown flag bits, trailing bytes), so anything that
// decodes re-encodes to the same bytes.

// appendBytes appends a uvarint length and then b.
func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decoder reads fields from an in-memory buffer. The first error sticks:
// later reads return zero values, so callers check err once at the end of a
// record or wherever a value drives control flow.
type decoder struct {
	buf []byte
	err error
}

// fail records the first error, wrapped in ErrCorrupt.
func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	d.buf = nil
}

// byte reads one byte.
func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.fail("%s: truncated", what)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

// uvarint reads a canonical (shortest-form) uvarint.
func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := record.Uvarint(d.buf)
	if n <= 0 {
		d.fail("%s: bad uvarint", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a uvarint element count and bounds it by the bytes left,
// given that every element takes at least minSize bytes, so that a caller
// may allocate a slice of that length.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.buf)/minSize) {
		d.fail("%s: count %d exceeds the %d bytes left", what, n, len(d.buf))
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string. The result aliases the buffer;
// it is nil when empty.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail("%s: length %d exceeds the %d bytes left", what, n, len(d.buf))
		return nil
	}
	if n == 0 {
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// key reads a length-prefixed key and rejects an empty one.
func (d *decoder) key(what string) []byte {
	k := d.bytes(what)
	if d.err == nil && len(k) == 0 {
		d.fail("%s: empty key", what)
	}
	return k
}

// finish reports the sticky error, or an error if bytes are left over.
func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) > 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	return d.err
}
