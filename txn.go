package yggr

import (
	"context"
	"errors"

	"github.com/yggrdb/yggr/internal/kv"
)

// The transaction types are aliases of the state machine's own (an
// internal package), so that a Txn reaches the log without a copy. go doc
// and pkg.go.dev show an alias's comment, not the fields of a type they
// cannot link to: each comment below therefore lists its type's fields.
// TestAliasDocsListFields keeps the lists complete.

// A Txn is applied atomically at one log index: if every Compare holds (an
// empty list holds), the Then requests run, otherwise the Else requests.
// Compares see the state before the transaction; a Get sees the
// transaction's own earlier writes.
//
//	type Txn struct {
//		Compares []Compare
//		Then     []Request
//		Else     []Request
//	}
type Txn = kv.Txn

// A Compare is one condition of a Txn: it tests the key against Target.
//
//	type Compare struct {
//		Key         []byte
//		Target      CmpTarget
//		Value       []byte // CmpValue only; empty otherwise
//		ModIndex    uint64 // CmpModIndex only; zero otherwise. 0 matches a missing key
//		CreateIndex uint64 // CmpCreateIndex only; zero otherwise. 0 matches a missing key
//	}
type Compare = kv.Compare

// A Request is one operation of a Txn branch.
//
//	type Request struct {
//		Op    Op
//		Key   []byte
//		Value []byte // OpPut only; empty otherwise
//		// Lease, for OpPut only, attaches the key to that lease (0: to
//		// none; a put without a lease detaches the key from the one it
//		// had). A transaction whose branch puts with a lease that does not
//		// exist changes nothing and fails with ErrLeaseNotFound.
//		Lease uint64
//	}
type Request = kv.Request

// An OpResult is the outcome of one executed Request, in TxnResult.Results.
//
//	type OpResult struct {
//		Op Op
//		// Found says whether the key existed when the request ran: for
//		// OpDelete, whether it was deleted; for OpPut, whether it was
//		// replaced rather than created.
//		Found bool
//		// Item is the item as of this point in the transaction, for OpGet
//		// with Found only; zero otherwise.
//		Item Item
//	}
type OpResult = kv.OpResult

// A CmpTarget says what a Compare tests: CmpExists, CmpMissing, CmpValue,
// CmpModIndex or CmpCreateIndex. Its String is the target's name
// ("exists", "missing", "value", "mod_index", "create_index").
type CmpTarget = kv.CmpTarget

// An Op is a Request's operation: OpPut, OpDelete or OpGet. Its String is
// the operation's name ("put", "delete", "get").
type Op = kv.Op

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

// TxnEach runs every transaction of txns as Txn runs it alone, each its
// own log entry, and returns when all are done: results[i] and errs[i] are
// what Txn(ctx, txns[i]) would have returned. The transactions are
// independent, not atomic together and in no order among themselves, as
// if len(txns) goroutines had called Txn at once; but on the leader the
// calling goroutine proposes them all and waits for them itself, which
// saves a goroutine per transaction. One difference from separate calls:
// the leader's answers are read in order, so a transaction refused by a
// leader that is stepping down is sent on to the next leader once the
// answers for the transactions before it are in (all within ctx). It is
// how the HTTP API runs the writes of a batch (POST /v1/batch).
func (db *DB) TxnEach(ctx context.Context, txns []Txn) (results []TxnResult, errs []error) {
	ctx, span := db.span(ctx, "yggr.TxnEach")
	defer func() { endSpan(span, errors.Join(errs...)) }()
	results, errs = make([]TxnResult, len(txns)), make([]error, len(txns))
	cmds := make([][]byte, 0, len(txns))
	at := make([]int, 0, len(txns)) // at[j]: the txn of cmds[j]
	for i, t := range txns {
		if err := db.limits.CheckTxn(t); err != nil {
			errs[i] = mapKVError(err)
			continue
		}
		cmds, at = append(cmds, kv.EncodeTxn(t)), append(at, i)
	}
	for j, p := range db.node.ProposeEach(ctx, cmds) {
		res, err := proposed(p.Data, p.Err)
		if err != nil {
			errs[at[j]] = err
			continue
		}
		results[at[j]] = TxnResult{Succeeded: res.Succeeded, Index: res.Index, Results: res.Results}
	}
	return results, errs
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
