package kv

import (
	"encoding/binary"

	"github.com/yggrdb/yggr/internal/record"
)

// This file holds the primitives shared by the command, result and snapshot
// encodings: canonical uvarints (record.Uvarint) and uvarint-length-prefixed
// byte strings. Commands and results are decoded with record.Reader (its
// Field names the field in an error; its errors wrap ErrCorrupt).
// Every decoder rejects what the matching encoder would never write
// (overlong uvarints, unknown flag bits, trailing bytes), so anything that
// decodes re-encodes to the same bytes.

// appendBytes appends a uvarint length and then b.
func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// readKey reads a length-prefixed key, named what in errors, and rejects
// an empty one.
func readKey(r *record.Reader, what string) []byte {
	k := r.Field(what).LenBytes()
	if r.Err() == nil && len(k) == 0 {
		r.Failf("%s: empty key", what)
	}
	return k
}

// newReader returns a Reader over b whose failures wrap ErrCorrupt.
func newReader(b []byte) *record.Reader { return record.NewReaderWrapping(b, ErrCorrupt) }
