package yggr

import (
	"context"

	"github.com/yggrdb/yggr/internal/kv"
)

// A Txn is applied atomically at one log index: if every Compare holds (an
// empty list holds), the Then requests run, otherwise the Else requests.
// Compares see the state before the transaction; a Get sees the
// transaction's own earlier writes.
type (
	Txn       = kv.Txn
	Compare   = kv.Compare
	Request   = kv.Request
	OpResult  = kv.OpResult
	CmpTarget = kv.CmpTarget
	Op        = kv.Op
)

// Compare targets and request operations.
const (
	CmpExists   = kv.CmpExists
	CmpMissing  = kv.CmpMissing
	CmpValue    = kv.CmpValue
	CmpModIndex = kv.CmpModIndex
	// CmpCreateIndex holds if the key's CreateIndex (the revision that
	// created it) equals Compare.CreateIndex; 0 matches a missing key. It
	// tells that the very key created then still exists: the fencing
	// compare of the concurrency package's locks and elections.
	CmpCreateIndex = kv.CmpCreateIndex
	OpPut          = kv.OpPut
	OpDelete       = kv.OpDelete
	OpGet          = kv.OpGet
)

// TxnResult is the outcome of a transaction.
type TxnResult struct {
	// Succeeded says the compares held and Then ran.
	Succeeded bool
	// Index is the log index the transaction was applied at.
	Index uint64
	// Results has one entry per executed request, in order.
	Results []OpResult
}

// Txn applies a transaction.
func (db *DB) Txn(ctx context.Context, t Txn) (_ TxnResult, err error) {
	ctx, span := db.span(ctx, "yggr.Txn")
	defer func() { endSpan(span, err) }()
	if err := db.limits.CheckTxn(t); err != nil {
		return TxnResult{}, mapKVError(err)
	}
	res, err := db.propose(ctx, kv.EncodeTxn(t))
	if err != nil {
		return TxnResult{}, err
	}
	return TxnResult{Succeeded: res.Succeeded, Index: res.Index, Results: res.Results}, nil
}

// CompareAndSwap sets key to value if its current value equals old (a nil
// old means: only if the key is missing). It reports whether it swapped.
func (db *DB) CompareAndSwap(ctx context.Context, key, old, value []byte) (bool, error) {
	cmp := Compare{Key: key, Target: CmpValue, Value: old}
	if old == nil {
		cmp = Compare{Key: key, Target: CmpMissing}
	}
	res, err := db.Txn(ctx, Txn{Compares: []Compare{cmp}, Then: []Request{{Op: OpPut, Key: key, Value: value}}})
	return res.Succeeded, err
}

// PutIndex is Put that also returns the log index of the write, for
// AtLeast.
func (db *DB) PutIndex(ctx context.Context, key, value []byte) (uint64, error) {
	res, err := db.Txn(ctx, Txn{Then: []Request{{Op: OpPut, Key: key, Value: value}}})
	return res.Index, err
}

// DeleteIndex is Delete that also returns the log index of the write and
// whether the key existed.
func (db *DB) DeleteIndex(ctx context.Context, key []byte) (uint64, bool, error) {
	res, err := db.Txn(ctx, Txn{Then: []Request{{Op: OpDelete, Key: key}}})
	if err != nil {
		return 0, false, err
	}
	return res.Index, len(res.Results) == 1 && res.Results[0].Found, nil
}
