package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/yggrdb/yggr"
)

// POST /v1/batch carries independent single-key operations in one
// request: each runs as if it had been sent alone (PUT, GET or DELETE
// /v1/kv/{key}), concurrently with the others, with its own result or
// error. It is not a transaction: the operations are not atomic together
// and take no order among themselves (a transaction is POST /v1/txn).
// The Go client sends one when calls arrive while it already has requests
// of its kind in flight (ClientOptions.Inflight, WriteInflight): one HTTP
// request instead of many is
// most of what a write costs the server.
//
// The whole request fails (a single error response) only when it cannot
// be read: malformed JSON (400), more than MaxBatchOps operations (413), a
// body beyond MaxBodyBytes (413); then none of its operations ran.
// Anything wrong with one operation (an empty key, a value too large, an
// unknown op, a missing key on a get, no leader) is that operation's
// error, with the status and code it would have had alone. The values of
// one answer are bounded too (MaxBatchAnswerBytes): a get whose value would
// pass the bound fails with 503 busy, sent again alone by the Go client.
// Each operation is counted in yggr_http_batch_ops_total{op,code}.

// MaxBatchOps bounds the operations of one POST /v1/batch.
const MaxBatchOps = 256

// MaxBatchAnswerBytes bounds the values one batch answers with, as a scan's
// page is bounded.
const MaxBatchAnswerBytes = maxScanBytes

// BatchRequest is the body of POST /v1/batch.
type BatchRequest struct {
	Ops []BatchOp `json:"ops"`
}

// BatchOp is one operation of a BatchRequest: Op is "put", "get" or
// "delete". Value and Lease are for a put (as PUT /v1/kv/{key}?lease=),
// Consistency and MinIndex for a get (as GET's consistency and min_index).
type BatchOp struct {
	Op          string       `json:"op"`
	Key         []byte       `json:"key"`
	Value       []byte       `json:"value,omitempty"`
	Lease       yggr.LeaseID `json:"lease,omitempty"`
	Consistency string       `json:"consistency,omitempty"`
	MinIndex    uint64       `json:"min_index,omitempty"`
}

// BatchResponse is the answer to POST /v1/batch: one result per
// operation, in the request's order.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one BatchOp: Error if it failed;
// otherwise Index for a put or delete (the write's log index) with
// Deleted for a delete (whether the key existed), and for a get the
// item's Value and its indexes (GET's X-Yggr-* headers). A get of a
// missing key fails with 404 not_found, as GET does.
type BatchResult struct {
	Index       uint64      `json:"index,omitempty"`
	Deleted     bool        `json:"deleted,omitempty"`
	Value       []byte      `json:"value,omitempty"`
	ModIndex    uint64      `json:"mod_index,omitempty"`
	CreateIndex uint64      `json:"create_index,omitempty"`
	Version     uint64      `json:"version,omitempty"`
	Error       *BatchError `json:"error,omitempty"`
}

// BatchError is a failed operation's error: the status, code and message
// its request alone would have been answered with.
type BatchError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// decodeBatch reads one JSON BatchRequest from r (unknown fields and
// trailing data are errors). The operations are validated one by one
// afterwards (prepareBatchWrite, runBatchOp). Errors classify as 400 or
// 413, or as decodeStrict returns a body that did not arrive; it never
// panics. The body is read whole and parsed without reflection when it
// has the form json.Marshal gives it (batch_decode.go).
func decodeBatch(r io.Reader) ([]BatchOp, error) {
	body, release, err := readBatchBody(r)
	if err != nil {
		return nil, malformed(err, "batch JSON")
	}
	defer release()
	ops, ok := parseCanonicalBatch(body)
	if !ok {
		var req BatchRequest
		if err := decodeStrict(bytes.NewReader(body), &req, "batch JSON"); err != nil {
			return nil, err
		}
		ops = req.Ops
	}
	if len(ops) > MaxBatchOps {
		return nil, errTooLarge("batch of %d operations, limit %d", len(ops), MaxBatchOps)
	}
	return ops, nil
}

func (h *handler) batch(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > h.opts.MaxBodyBytes {
		h.fail(w, r, errTooLarge("body is %d bytes, limit %d", r.ContentLength, h.opts.MaxBodyBytes))
		return
	}
	ops, err := decodeBatch(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	results := make([]BatchResult, len(ops))
	var answer atomic.Int64 // value bytes answered so far
	// The writes (put, delete) are proposed together from this goroutine
	// (runBatchWrites); each other op runs on its own goroutine, but for
	// the last when there is no write to wait for (the Go client sends
	// writes and gets in separate batches).
	var writes, others []int
	var txns []yggr.Txn
	for i, op := range ops {
		if op.Op != OpPut && op.Op != OpDelete {
			others = append(others, i)
		} else if t, ok := h.prepareBatchWrite(r, op, &results[i]); ok {
			writes, txns = append(writes, i), append(txns, t)
		}
	}
	inline := -1
	if len(txns) == 0 && len(others) > 0 {
		inline, others = others[len(others)-1], others[:len(others)-1]
	}
	var wg sync.WaitGroup
	for _, i := range others {
		wg.Go(func() { results[i] = h.runBatchOp(r, ops[i], &answer) })
	}
	if len(txns) > 0 {
		h.runBatchWrites(r, ops, writes, txns, results)
	}
	if inline >= 0 {
		results[inline] = h.runBatchOp(r, ops[inline], &answer)
	}
	wg.Wait()
	writeJSONBody(w, http.StatusOK, appendBatchResponse(make([]byte, 0, batchResponseSize(results)), results))
}

// runBatchOp runs one operation of a batch as its own request would run:
// the same checks, the same call, the same error.
func (h *handler) runBatchOp(r *http.Request, op BatchOp, answer *atomic.Int64) (res BatchResult) {
	defer func() { h.endBatchOp(op, &res, recover()) }()
	if h.batchOpHook != nil {
		h.batchOpHook(op)
	}
	res, err := h.batchOp(r.Context(), op)
	if err == nil && len(res.Value) > 0 && answer.Add(int64(len(res.Value))) > MaxBatchAnswerBytes {
		res, err = BatchResult{}, fmt.Errorf("%w: httpapi: the batch's answer passed %d bytes of values: send this get alone", yggr.ErrBusy, MaxBatchAnswerBytes)
	}
	if err != nil {
		return h.batchFailure(r, err)
	}
	return res
}

// endBatchOp ends each operation: it turns a panic (v, what the caller's
// deferred function recovered) into the operation's 500 (ServeHTTP's
// recover does not reach a batch's goroutines) and counts the operation's
// outcome.
func (h *handler) endBatchOp(op BatchOp, res *BatchResult, v any) {
	if v != nil {
		h.opts.Logger.Error("httpapi: panic serving a batch operation", "op", op.Op,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		*res = internalError()
	}
	code := http.StatusOK
	if res.Error != nil {
		code = res.Error.Status
	}
	h.metrics.batchOps.WithLabelValues(opLabel(op.Op), strconv.Itoa(code)).Inc()
}

// internalError is the result of an operation that panicked.
func internalError() BatchResult {
	return BatchResult{Error: &BatchError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "httpapi: internal error"}}
}

// batchFailure is the result of an operation that failed with err.
func (h *handler) batchFailure(r *http.Request, err error) BatchResult {
	status, code, err := h.failure(r, err)
	return BatchResult{Error: &BatchError{Status: status, Code: code, Message: err.Error()}}
}

// prepareBatchWrite checks a put or delete of a batch as its own request
// would and returns the transaction that runs it; if it fails, *res is its
// error, counted, and ok is false.
func (h *handler) prepareBatchWrite(r *http.Request, op BatchOp, res *BatchResult) (t yggr.Txn, ok bool) {
	defer func() {
		if v := recover(); v != nil || !ok { // a panic, or an error
			h.endBatchOp(op, res, v)
		}
	}()
	if h.batchOpHook != nil {
		h.batchOpHook(op)
	}
	t, err := h.batchWriteTxn(op)
	if err != nil {
		*res = h.batchFailure(r, err)
		return t, false
	}
	return t, true
}

// runBatchWrites proposes the batch's checked writes together
// (DB.TxnEach): txns[j] runs ops[at[j]], whose result it sets.
func (h *handler) runBatchWrites(r *http.Request, ops []BatchOp, at []int, txns []yggr.Txn, results []BatchResult) {
	ended := 0 // at[:ended] have their result, counted
	defer func() {
		if v := recover(); v != nil {
			h.opts.Logger.Error("httpapi: panic serving a batch's writes", "writes", len(at)-ended,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			for _, i := range at[ended:] {
				results[i] = internalError()
				h.endBatchOp(ops[i], &results[i], nil)
			}
		}
	}()
	if h.batchWritesHook != nil {
		h.batchWritesHook()
	}
	res, errs := h.db.TxnEach(r.Context(), txns)
	for j, i := range at {
		switch {
		case errs[j] != nil:
			results[i] = h.batchFailure(r, errs[j])
		case ops[i].Op == OpDelete:
			results[i] = BatchResult{Index: res[j].Index, Deleted: len(res[j].Results) == 1 && res[j].Results[0].Found}
		default:
			results[i] = BatchResult{Index: res[j].Index}
		}
		h.endBatchOp(ops[i], &results[i], nil)
		ended++
	}
}

// opLabel is op as a metric label: one of the three ops, or "invalid"
// (the label's values stay bounded whatever clients send).
func opLabel(op string) string {
	switch op {
	case OpPut, OpGet, OpDelete:
		return op
	}
	return "invalid"
}

// checkBatchOp checks what every operation of a batch must satisfy.
func (h *handler) checkBatchOp(op BatchOp) error {
	if err := h.checkKey(op.Key); err != nil {
		return err
	}
	if op.Op != OpPut && (len(op.Value) > 0 || op.Lease != 0) {
		return errBadRequest("value and lease are only for op put")
	}
	if op.Op != OpGet && (op.Consistency != "" || op.MinIndex != 0) {
		return errBadRequest("consistency and min_index are only for op get")
	}
	return nil
}

// batchWriteTxn checks a put or delete of a batch as its own request would
// and returns the transaction that runs it.
func (h *handler) batchWriteTxn(op BatchOp) (yggr.Txn, error) {
	if err := h.checkBatchOp(op); err != nil {
		return yggr.Txn{}, err
	}
	if op.Op == OpDelete {
		return yggr.Txn{Then: []yggr.Request{{Op: yggr.OpDelete, Key: op.Key}}}, nil
	}
	if limit := h.valueLimit(); int64(len(op.Value)) > limit {
		return yggr.Txn{}, errTooLarge("value is %d bytes, limit %d", len(op.Value), limit)
	}
	value := op.Value
	if value == nil {
		value = []byte{}
	}
	return yggr.Txn{Then: []yggr.Request{{Op: yggr.OpPut, Key: op.Key, Value: value, Lease: uint64(op.Lease)}}}, nil
}

// batchOp runs a get of a batch, or fails an operation that is not one of
// the three.
func (h *handler) batchOp(ctx context.Context, op BatchOp) (BatchResult, error) {
	if err := h.checkBatchOp(op); err != nil {
		return BatchResult{}, err
	}
	if op.Op != OpGet {
		return BatchResult{}, errBadRequest("unknown op %q (want put, get or delete)", op.Op)
	}
	var opts []yggr.ReadOption
	if op.Consistency != "" {
		c, err := yggr.ParseConsistency(op.Consistency)
		if err != nil {
			return BatchResult{}, err
		}
		opts = append(opts, yggr.WithConsistency(c))
	}
	if op.MinIndex != 0 {
		opts = append(opts, yggr.AtLeast(op.MinIndex))
	}
	it, err := h.db.GetItem(ctx, op.Key, opts...)
	if err != nil {
		return BatchResult{}, err
	}
	return BatchResult{Value: it.Value, ModIndex: it.ModIndex, CreateIndex: it.CreateIndex, Version: it.Version}, nil
}

// appendBatchResponse appends the BatchResponse of results as JSON with
// writeJSON's newline, byte for byte what json.Marshal gives (the hot
// path: no reflection).
func appendBatchResponse(b []byte, results []BatchResult) []byte {
	b = append(b, `{"results":[`...)
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendBatchResult(b, r)
	}
	return append(b, "]}\n"...)
}

// batchResponseSize is an upper bound of the length of results' JSON.
func batchResponseSize(results []BatchResult) int {
	n := 16
	for _, r := range results {
		n += 256 + base64.StdEncoding.EncodedLen(len(r.Value)) // numbers, names, punctuation
		if r.Error != nil {
			n += 6 * (len(r.Error.Code) + len(r.Error.Message)) // \u00XX at worst
		}
	}
	return n
}

func appendBatchResult(b []byte, r BatchResult) []byte {
	b = append(b, '{')
	start := len(b)
	field := func(name string) {
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	uintField := func(name string, v uint64) {
		if v != 0 {
			field(name)
			b = strconv.AppendUint(b, v, 10)
		}
	}
	uintField("index", r.Index)
	if r.Deleted {
		field("deleted")
		b = append(b, "true"...)
	}
	if len(r.Value) > 0 {
		field("value")
		b = appendBase64String(b, r.Value)
	}
	uintField("mod_index", r.ModIndex)
	uintField("create_index", r.CreateIndex)
	uintField("version", r.Version)
	if r.Error != nil {
		field("error")
		b = append(b, `{"status":`...)
		b = strconv.AppendInt(b, int64(r.Error.Status), 10)
		b = append(b, `,"code":`...)
		b = appendJSONString(b, r.Error.Code)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, r.Error.Message)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendBase64String appends p as a JSON string of its standard base64,
// as encoding/json encodes a []byte.
func appendBase64String(b, p []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

// appendJSONString appends s as encoding/json encodes a string: as is
// between quotes when it needs no escaping (an op, a code), through
// json.Marshal otherwise (a message).
func appendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
