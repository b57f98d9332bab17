package httpapi

import (
	"io"
	"net/http"

	"github.com/yggrdb/yggr"
)

// TxnRequest is the body of POST /v1/txn: if every Compare holds (an empty
// list holds), the Success operations run, otherwise the Failure ones, all
// atomically at one log index.
type TxnRequest struct {
	Compare []TxnCompare `json:"compare,omitempty"`
	Success []TxnOp      `json:"success,omitempty"`
	Failure []TxnOp      `json:"failure,omitempty"`
}

// Compare targets of TxnCompare.Target.
const (
	TargetExists   = "exists"    // the key exists
	TargetMissing  = "missing"   // the key does not exist
	TargetValue    = "value"     // the key exists and its value equals Value
	TargetModIndex = "mod_index" // the key's modification index equals ModIndex (0: missing)
	// TargetCreateIndex: the key's creation index equals CreateIndex (0:
	// missing): the very key created then still exists. With a lock's key
	// and token, a write that applies only while the lock is held.
	TargetCreateIndex = "create_index"
)

// Operations of TxnOp.Op.
const (
	OpPut    = "put"
	OpDelete = "delete"
	OpGet    = "get"
)

// TxnCompare is one condition of a TxnRequest. Value is used by the
// "value" target only, ModIndex by "mod_index" only, CreateIndex by
// "create_index" only.
type TxnCompare struct {
	Key      []byte `json:"key"`
	Target   string `json:"target"`
	Value    []byte `json:"value,omitempty"`
	ModIndex uint64 `json:"mod_index,omitempty"`
	// CreateIndex is for the "create_index" target.
	CreateIndex uint64 `json:"create_index,omitempty"`
}

// TxnOp is one operation of a TxnRequest branch. Value and Lease are
// used by "put" only: Lease attaches the key to that lease (0 or absent:
// to none), and a transaction whose executed branch puts with a lease
// that does not exist fails with 404 lease_not_found and changes nothing.
type TxnOp struct {
	Op    string       `json:"op"`
	Key   []byte       `json:"key"`
	Value []byte       `json:"value,omitempty"`
	Lease yggr.LeaseID `json:"lease,omitempty"`
}

// TxnResponse is the answer to POST /v1/txn.
type TxnResponse struct {
	// Succeeded says the compares held and Success ran.
	Succeeded bool `json:"succeeded"`
	// Index is the log index the transaction was applied at.
	Index uint64 `json:"index"`
	// Results has one entry per executed operation, in order.
	Results []TxnResult `json:"results"`
}

// TxnResult is the outcome of one operation. Found says whether the key
// existed when the operation ran (for a delete: whether it deleted; for a
// put: whether it replaced). Item is set for a get that found its key.
type TxnResult struct {
	Op    string `json:"op"`
	Found bool   `json:"found"`
	Item  *Item  `json:"item,omitempty"`
}

// limits are the size bounds decodeTxn checks.

// decodeTxn reads one JSON TxnRequest from r (unknown fields and trailing
// data are errors) and validates it into a yggr.Txn. Errors classify as
// 400 or 413; it never panics.
func decodeTxn(r io.Reader, lim yggr.Limits) (yggr.Txn, error) {
	var req TxnRequest
	if err := decodeStrict(r, &req, "transaction JSON"); err != nil {
		return yggr.Txn{}, err
	}
	return req.toTxn(lim)
}

// toTxn validates req against lim and converts it.
func (req TxnRequest) toTxn(lim yggr.Limits) (yggr.Txn, error) {
	var t yggr.Txn
	checkKey := func(what string, i int, key []byte) error {
		if len(key) == 0 {
			return errBadRequest("%s %d: empty key", what, i)
		}
		if len(key) > lim.MaxKeyBytes {
			return errTooLarge("%s %d: key is %d bytes, limit %d", what, i, len(key), lim.MaxKeyBytes)
		}
		return nil
	}
	for i, c := range req.Compare {
		if err := checkKey("compare", i, c.Key); err != nil {
			return yggr.Txn{}, err
		}
		cmp := yggr.Compare{Key: c.Key}
		switch c.Target {
		case TargetExists:
			cmp.Target = yggr.CmpExists
		case TargetMissing:
			cmp.Target = yggr.CmpMissing
		case TargetValue:
			cmp.Target, cmp.Value = yggr.CmpValue, c.Value
			if len(c.Value) > lim.MaxValueBytes {
				return yggr.Txn{}, errTooLarge("compare %d: value is %d bytes, limit %d", i, len(c.Value), lim.MaxValueBytes)
			}
		case TargetModIndex:
			cmp.Target, cmp.ModIndex = yggr.CmpModIndex, c.ModIndex
		case TargetCreateIndex:
			cmp.Target, cmp.CreateIndex = yggr.CmpCreateIndex, c.CreateIndex
		default:
			return yggr.Txn{}, errBadRequest("compare %d: unknown target %q (want exists, missing, value, mod_index or create_index)", i, c.Target)
		}
		if c.Target != TargetValue && len(c.Value) > 0 {
			return yggr.Txn{}, errBadRequest("compare %d: value is only for target value", i)
		}
		if c.Target != TargetModIndex && c.ModIndex != 0 {
			return yggr.Txn{}, errBadRequest("compare %d: mod_index is only for target mod_index", i)
		}
		if c.Target != TargetCreateIndex && c.CreateIndex != 0 {
			return yggr.Txn{}, errBadRequest("compare %d: create_index is only for target create_index", i)
		}
		t.Compares = append(t.Compares, cmp)
	}
	ops := func(what string, in []TxnOp) ([]yggr.Request, error) {
		var out []yggr.Request
		for i, o := range in {
			if err := checkKey(what, i, o.Key); err != nil {
				return nil, err
			}
			rq := yggr.Request{Key: o.Key}
			switch o.Op {
			case OpPut:
				rq.Op, rq.Value = yggr.OpPut, o.Value
				if len(o.Value) > lim.MaxValueBytes {
					return nil, errTooLarge("%s %d: value is %d bytes, limit %d", what, i, len(o.Value), lim.MaxValueBytes)
				}
			case OpDelete:
				rq.Op = yggr.OpDelete
			case OpGet:
				rq.Op = yggr.OpGet
			default:
				return nil, errBadRequest("%s %d: unknown op %q (want put, delete or get)", what, i, o.Op)
			}
			if o.Op != OpPut && len(o.Value) > 0 {
				return nil, errBadRequest("%s %d: value is only for op put", what, i)
			}
			if o.Op != OpPut && o.Lease != 0 {
				return nil, errBadRequest("%s %d: lease is only for op put", what, i)
			}
			rq.Lease = uint64(o.Lease)
			out = append(out, rq)
		}
		return out, nil
	}
	var err error
	if t.Then, err = ops("success", req.Success); err != nil {
		return yggr.Txn{}, err
	}
	if t.Else, err = ops("failure", req.Failure); err != nil {
		return yggr.Txn{}, err
	}
	return t, nil
}

// txnResponse converts a transaction's outcome.
func txnResponse(res yggr.TxnResult) TxnResponse {
	out := TxnResponse{Succeeded: res.Succeeded, Index: res.Index, Results: []TxnResult{}}
	for _, r := range res.Results {
		tr := TxnResult{Op: r.Op.String(), Found: r.Found}
		if r.Op == yggr.OpGet && r.Found {
			it := itemOf(r.Item)
			tr.Item = &it
		}
		out.Results = append(out.Results, tr)
	}
	return out
}

func (h *handler) txn(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > h.opts.MaxBodyBytes {
		h.fail(w, r, errTooLarge("body is %d bytes, limit %d", r.ContentLength, h.opts.MaxBodyBytes))
		return
	}
	t, err := decodeTxn(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), h.opts.Limits)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.db.Txn(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, txnResponse(res))
}
