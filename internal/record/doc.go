// Package record holds what yggr's binary formats share: the CRC-32C
// (Castagnoli) checksum every record carries, and a Reader that decodes
// fixed-width big-endian fields, canonical uvarints and uvarint-length-
// prefixed bytes with bounds checks and a sticky first error.
//
// The log (log/), the snapshot files (snapshot/) and the state machine's
// commands and results (internal/kv) build their records from these
// pieces, so that a bounds rule or a checksum is written once. A format
// may name the field being read (Reader.Field), so that an error says
// which, and have the errors wrap its own sentinel (NewReaderWrapping)
// rather than ErrFormat.
// Encoding is plain append calls (encoding/binary's Append functions and
// the helpers here); decoding reads through a Reader and checks Err once
// at the end.
//
// # Usage
//
//	b := []byte{version}
//	b = binary.BigEndian.AppendUint64(b, index)
//	b = record.AppendString8(b, id)
//	b = binary.BigEndian.AppendUint32(b, record.Checksum(b))
//
//	r := record.NewReader(body)
//	index := r.U64()
//	id := r.String8(maxID)
//	if err := r.Finish(); err != nil { ... } // truncated, too long, trailing bytes
//
//	r := record.NewReaderWrapping(cmd, kv.ErrCorrupt)
//	key := r.Field("put key").LenBytes()
//	lease := r.Field("put lease").Uvarint()
//	err := r.Finish() // "kv: corrupt data: at byte 9: put lease: bad uvarint"
//
// # Caveats
//
// Slices returned by Reader.Bytes alias the input; copy them to keep them
// beyond the input's lifetime.
package record
