package kv

import (
	"encoding/binary"
	"fmt"

	"github.com/yggrdb/yggr/internal/record"
)

// resultVersion is the first byte of every encoded Result.
const resultVersion = 1

// Result flag bits.
const (
	resultDeleted   = 1 << 0
	resultSucceeded = 1 << 1
	resultPrev      = 1 << 2
	// resultLeaseNotFound is only set by commands that use leases, whose
	// results only replicas that read version 2 commands decode.
	resultLeaseNotFound = 1 << 3
	resultFlags         = resultDeleted | resultSucceeded | resultPrev | resultLeaseNotFound
)

// OpResult flag bits.
const (
	opFound = 1 << 0
	opFlags = opFound
)

// Result is the outcome of applying one command. It travels, encoded, from
// the node that applied it to the node that proposed it.
type Result struct {
	Index     uint64     // log index at which the command was applied
	Err       string     // non-empty if the command was invalid; nothing changed then
	Deleted   bool       // delete: whether the key existed
	Prev      *Item      // reserved for a previous item; Store.Apply leaves it nil
	Succeeded bool       // txn: whether every compare held (Then ran, else Else ran)
	Results   []OpResult // txn: one per executed request, in order
	// LeaseNotFound says the command named a lease that does not exist
	// (never granted, revoked or expired): a revoke of it, or a put (also
	// in a transaction's branch) attaching to it. Nothing changed then.
	LeaseNotFound bool
}

// OpResult is the outcome of one request of a transaction.
type OpResult struct {
	Op Op
	// Found says whether the key existed when the request ran: for OpDelete,
	// whether it was deleted; for OpPut, whether it was replaced rather than
	// created.
	Found bool
	// Item is the item as of this point in the transaction, for OpGet with
	// Found only; zero otherwise (and then not encoded).
	Item Item
}

// EncodeResult encodes r; it is the inverse of DecodeResult. An OpResult's
// Item is encoded only for OpGet with Found.
func EncodeResult(r Result) []byte {
	n := 2 + 2*binary.MaxVarintLen64 + len(r.Err)
	if r.Prev != nil {
		n += itemSizeHint(*r.Prev)
	}
	for _, o := range r.Results {
		n += 2 + itemSizeHint(o.Item)
	}
	b := make([]byte, 0, n)
	b = append(b, resultVersion)
	b = binary.AppendUvarint(b, r.Index)
	var flags byte
	if r.Deleted {
		flags |= resultDeleted
	}
	if r.Succeeded {
		flags |= resultSucceeded
	}
	if r.Prev != nil {
		flags |= resultPrev
	}
	if r.LeaseNotFound {
		flags |= resultLeaseNotFound
	}
	b = append(b, flags)
	b = appendBytes(b, []byte(r.Err))
	if r.Prev != nil {
		b = appendItem(b, *r.Prev)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Results)))
	for _, o := range r.Results {
		var f byte
		if o.Found {
			f |= opFound
		}
		b = append(b, byte(o.Op), f)
		if o.Op == OpGet && o.Found {
			b = appendItem(b, o.Item)
		}
	}
	return b
}

// DecodeResult decodes and validates an encoded Result. The returned slices
// alias b. Errors wrap ErrCorrupt.
func DecodeResult(b []byte) (Result, error) {
	d := newReader(b)
	if v := d.Field("version").U8(); d.Err() == nil && v != resultVersion {
		return Result{}, fmt.Errorf("%w: unknown result version %d", ErrCorrupt, v)
	}
	var r Result
	r.Index = d.Field("index").Uvarint()
	flags := d.Field("flags").U8()
	if d.Err() == nil && flags&^resultFlags != 0 {
		d.Failf("unknown result flags %#x", flags)
	}
	r.Deleted = flags&resultDeleted != 0
	r.Succeeded = flags&resultSucceeded != 0
	r.LeaseNotFound = flags&resultLeaseNotFound != 0
	r.Err = string(d.Field("error").LenBytes())
	if flags&resultPrev != 0 {
		it := decodeItem(d, &prevFields)
		r.Prev = &it
	}
	if n := d.Field("result count").Count(2); n > 0 {
		r.Results = make([]OpResult, n)
		for i := range r.Results {
			o := &r.Results[i]
			o.Op = Op(d.Field("op").U8())
			f := d.Field("op flags").U8()
			if d.Err() != nil {
				break
			}
			if f&^opFlags != 0 {
				d.Failf("unknown op flags %#x", f)
				break
			}
			o.Found = f&opFound != 0
			switch o.Op {
			case OpGet:
				if o.Found {
					o.Item = decodeItem(d, &getFields)
				}
			case OpPut, OpDelete:
			default:
				d.Failf("unknown op %d", uint8(o.Op))
			}
		}
	}
	if err := d.Finish(); err != nil {
		return Result{}, err
	}
	return r, nil
}

func itemSizeHint(it Item) int {
	return 2*binary.MaxVarintLen32 + 3*binary.MaxVarintLen64 + len(it.Key) + len(it.Value)
}

// appendItem appends key, value, CreateIndex, ModIndex and Version.
func appendItem(b []byte, it Item) []byte {
	b = appendBytes(b, it.Key)
	b = appendBytes(b, it.Value)
	b = binary.AppendUvarint(b, it.CreateIndex)
	b = binary.AppendUvarint(b, it.ModIndex)
	return binary.AppendUvarint(b, it.Version)
}

// itemFields name the fields of an item in errors (constants: a label
// built per read would cost an allocation).
type itemFields struct{ key, value, createIndex, modIndex, version string }

var (
	prevFields = itemFields{"prev key", "prev value", "prev create index", "prev mod index", "prev version"}
	getFields  = itemFields{"get key", "get value", "get create index", "get mod index", "get version"}
)

func decodeItem(d *record.Reader, f *itemFields) Item {
	var it Item
	it.Key = readKey(d, f.key)
	it.Value = d.Field(f.value).LenBytes()
	it.CreateIndex = d.Field(f.createIndex).Uvarint()
	it.ModIndex = d.Field(f.modIndex).Uvarint()
	it.Version = d.Field(f.version).Uvarint()
	return it
}
