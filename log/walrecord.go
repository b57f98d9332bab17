package log

import (
	"encoding/binary"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Bodies of write-ahead log records (see wal.go for the framing). A body is
// one or more operations back to back (a Write of several batches is one
// record, all or nothing); each starts with its kind:
//
//	batch     1 truncate:u64 hasHS:u8 [hardstate] first:u64 count:u32 entry*
//	snapshot  2 snapshot                        (SetSnapshot)
//	reset     3 keep:u8 snapshot                (ResetTo)
//
// hardstate, snapshot and entry are encoded as in the Badger records
// (format.go); truncate is 0 when the batch truncates nothing.
const (
	opBatch    byte = 1
	opSnapshot byte = 2
	opReset    byte = 3
)

// walOp is a decoded record body: one durable change of the Store, replayed
// in LSN order at open.
type walOp struct {
	kind     byte
	truncate uint64            // batch: delete entries ≥ truncate first (0: none)
	hs       *engine.HardState // batch: then record this hard state (nil: none)
	entries  []engine.Entry    // batch: then append these (Data aliases the record)
	snap     engine.SnapshotMeta
	keep     bool // reset: keep the entries above snap.Index
}

// encodeBatch returns a record buffer for b: walRecHeaderLen bytes for the
// framing, then the body.
func encodeBatch(b Batch) []byte { return encodeBatches([]Batch{b}) }

// encodeBatches returns a record buffer whose body holds bs, in order.
func encodeBatches(bs []Batch) []byte { return appendBatches(nil, bs) }

// appendBatches is encodeBatches into dst's array when it has room
// (dst's contents are dropped).
func appendBatches(dst []byte, bs []Batch) []byte {
	n := walRecHeaderLen
	for _, b := range bs {
		n += 1 + 8 + 1 + 8 + 4 + entriesLen(b.Entries)
		if b.HardState != nil {
			n += 8 + 8 + 1 + len(b.HardState.Vote)
		}
	}
	n += 7 // room for the padding
	buf := dst[:0]
	if cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	buf = buf[:walRecHeaderLen]
	for _, b := range bs {
		buf = appendBatch(buf, b)
	}
	return buf
}

// appendBatch appends the operation of b to buf.
func appendBatch(buf []byte, b Batch) []byte {
	buf = append(buf, opBatch)
	buf = binary.BigEndian.AppendUint64(buf, b.TruncateFrom)
	if b.HardState != nil {
		buf = append(buf, 1)
		buf = appendHardState(buf, *b.HardState)
	} else {
		buf = append(buf, 0)
	}
	var first uint64
	if len(b.Entries) > 0 {
		first = b.Entries[0].Index
	}
	buf = binary.BigEndian.AppendUint64(buf, first)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b.Entries)))
	return appendEntries(buf, b.Entries)
}

func encodeSnapshotOp(kind byte, m engine.SnapshotMeta, keep bool) []byte {
	buf := make([]byte, walRecHeaderLen, walRecHeaderLen+64)
	buf = append(buf, kind)
	if kind == opReset {
		k := byte(0)
		if keep {
			k = 1
		}
		buf = append(buf, k)
	}
	return appendSnapshotMeta(buf, m)
}

// decodeOps decodes a record body: one or more operations. Entry data
// aliases body.
func decodeOps(body []byte) ([]walOp, error) {
	r := record.NewReader(body)
	var ops []walOp
	for r.Err() == nil && (len(ops) == 0 || r.Len() > 0) {
		ops = append(ops, readOp(r))
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", errRecord, err)
	}
	return ops, nil
}

// decodeOp decodes a record body holding exactly one operation.
func decodeOp(body []byte) (walOp, error) {
	ops, err := decodeOps(body)
	if err == nil && len(ops) != 1 {
		err = fmt.Errorf("%w: %d operations in the record, want one", errRecord, len(ops))
	}
	if err != nil {
		return walOp{}, err
	}
	return ops[0], nil
}

// readOp reads one operation.
func readOp(r *record.Reader) walOp {
	op := walOp{kind: r.U8()}
	switch op.kind {
	case opBatch:
		op.truncate = r.U64()
		switch r.U8() {
		case 0:
		case 1:
			hs := readHardState(r)
			op.hs = &hs
		default:
			r.Failf("bad hard state flag")
		}
		first, count := r.U64(), r.U32()
		switch {
		case r.Err() != nil:
		case count == 0 && first != 0:
			// appendBatch writes 0 when there are no entries; anything
			// else is damage, not a batch this package wrote.
			r.Failf("no entries, but a first index %d", first)
		case count > 0 && first == 0:
			r.Failf("entries start at index 0")
		case count > 0:
			op.entries = readEntries(nil, r, first, uint64(count), true)
		}
	case opSnapshot:
		op.snap = readSnapshotMeta(r)
	case opReset:
		switch r.U8() {
		case 0:
		case 1:
			op.keep = true
		default:
			r.Failf("bad keep flag")
		}
		op.snap = readSnapshotMeta(r)
	default:
		r.Failf("unknown record kind %d", op.kind)
	}
	return op
}
