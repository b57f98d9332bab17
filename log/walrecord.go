package log

import (
	"encoding/binary"
	"fmt"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Bodies of write-ahead log records (see wal.go for the framing). The
// first byte is the kind:
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
func encodeBatch(b Batch) []byte {
	n := walRecHeaderLen + 1 + 8 + 1 + 8 + 4 + entriesLen(b.Entries)
	if b.HardState != nil {
		n += 8 + 8 + 1 + len(b.HardState.Vote)
	}
	buf := make([]byte, walRecHeaderLen, n+7) // room for the padding
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

// decodeOp decodes a record body. Entry data aliases body.
func decodeOp(body []byte) (walOp, error) {
	r := record.NewReader(body)
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
		if r.Err() == nil && count > 0 {
			if first == 0 {
				r.Failf("entries start at index 0")
			}
			op.entries = readEntries(r, first, uint64(count), true)
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
	if err := r.Finish(); err != nil {
		return walOp{}, fmt.Errorf("%w: %v", errRecord, err)
	}
	return op, nil
}
