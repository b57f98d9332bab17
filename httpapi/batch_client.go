package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr"
)

// A Client's Put, Get and Delete calls share requests when many run at
// once. A call goes out at once, alone, on its own route while fewer than
// ClientOptions.Inflight of these requests are in flight. Otherwise it
// queues; when a request in flight finishes, every call queued meanwhile
// (up to batchMaxOps of them, batchMaxBytes of body) goes in one POST
// /v1/batch. So a lone caller pays no wait, and under load the server
// parses, schedules and answers one HTTP request for many operations.
//
// Each call keeps its own outcome and the retry policy (retry.go):
//
//   - the batch request as a whole is retried by Client.do as one
//     request, idempotent only if every call in it is a get;
//   - a call the batch's answer says was refused (busy, no_leader, ...),
//     and a get whose outcome is unknown, is sent again alone (Client.solo)
//     with the full policy; any other error is the call's, a put's or
//     delete's unknown outcome matching yggr.ErrUnknownOutcome as alone;
//   - a caller whose ctx ends while its call is queued gets ctx's error
//     (nothing was sent); while the batch is in flight, ctx's error, also
//     matching yggr.ErrUnknownOutcome for a put or delete.
//
// A server that does not know /v1/batch (404 or 405 for the route) turns
// batching off for the client's lifetime: the queued calls are sent alone.

// DefaultInflight is ClientOptions.Inflight's default.
const DefaultInflight = 4

// Bounds of one batch the client sends. A call whose key and value are
// larger than batchSoloBytes always goes alone.
const (
	batchMaxOps    = 256
	batchMaxBytes  = 1 << 20
	batchSoloBytes = 64 << 10
)

// callState is where a queued call is, guarded by batcher.mu.
type callState uint8

const (
	callQueued callState = iota
	callSent
	callAbandoned // its caller's ctx ended while it was queued
)

// batchCall is one queued Put, Get or Delete.
type batchCall struct {
	ctx   context.Context
	op    BatchOp
	state callState
	done  chan struct{} // closed once res and err are set
	res   BatchResult
	err   error
	// sent is the batch the call went in, set with state callSent.
	sent *sentBatch
}

// sentBatch is one batch request: its context ends when the last of its
// callers gives up (nobody waits for the answer: the slot is freed) or at
// batchContext's deadline.
type sentBatch struct {
	ctx    context.Context
	cancel context.CancelFunc
	left   atomic.Int32 // callers still waiting
}

func (bc *batchCall) finish(res BatchResult, err error) {
	bc.res, bc.err = res, err
	close(bc.done)
}

// size is the call's share of a batch body, roughly (base64 and field
// names).
func (bc *batchCall) size() int { return 64 + (len(bc.op.Key)+len(bc.op.Value))*4/3 }

// batcher holds a Client's queued calls.
type batcher struct {
	c        *Client
	max      int         // ClientOptions.Inflight
	off      atomic.Bool // the server does not know /v1/batch
	mu       sync.Mutex
	inflight int // requests of calls in flight, alone or batched
	queue    []*batchCall
}

// exec runs op: at once alone, or queued for the next batch.
func (c *Client) exec(ctx context.Context, op BatchOp) (BatchResult, error) {
	b := c.batch
	if b == nil || b.off.Load() || len(op.Key)+len(op.Value) > batchSoloBytes {
		return c.solo(ctx, op)
	}
	if err := ctx.Err(); err != nil {
		return BatchResult{}, err
	}
	b.mu.Lock()
	if b.inflight < b.max {
		b.inflight++
		b.mu.Unlock()
		res, err := c.solo(ctx, op)
		b.release()
		return res, err
	}
	bc := &batchCall{ctx: ctx, op: op, done: make(chan struct{})}
	b.queue = append(b.queue, bc)
	b.mu.Unlock()
	select {
	case <-bc.done:
		return bc.res, bc.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	st := bc.state
	if st == callQueued {
		bc.state = callAbandoned
		for i, q := range b.queue {
			if q == bc {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
	}
	b.mu.Unlock()
	if st == callSent && bc.sent.left.Add(-1) == 0 {
		bc.sent.cancel()
	}
	if st == callSent && op.Op != OpGet {
		return BatchResult{}, fmt.Errorf("%w: %w", yggr.ErrUnknownOutcome, ctx.Err())
	}
	return BatchResult{}, ctx.Err()
}

// release ends one request in flight: its slot goes to the calls queued
// meanwhile, if any.
func (b *batcher) release() {
	b.mu.Lock()
	calls := b.takeLocked()
	if calls == nil {
		b.inflight--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go b.send(calls)
}

// send sends calls, then the calls queued meanwhile, until none are.
func (b *batcher) send(calls []*batchCall) {
	for calls != nil {
		b.sendBatch(calls)
		b.mu.Lock()
		calls = b.takeLocked()
		if calls == nil {
			b.inflight--
		}
		b.mu.Unlock()
	}
}

// takeLocked takes the next batch off the queue (nil: the queue is
// empty), marking its calls sent.
func (b *batcher) takeLocked() []*batchCall {
	n, bytes := 0, 0
	for n < len(b.queue) && n < batchMaxOps {
		bytes += b.queue[n].size()
		if n > 0 && bytes > batchMaxBytes {
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	calls := make([]*batchCall, n)
	copy(calls, b.queue)
	sb := &sentBatch{}
	sb.ctx, sb.cancel = batchContext(calls)
	sb.left.Store(int32(n))
	for _, bc := range calls {
		bc.state, bc.sent = callSent, sb
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return calls
}

// sendBatch sends calls in one request (one call alone) and finishes
// each, or hands it to a goroutine that sends it again alone.
func (b *batcher) sendBatch(calls []*batchCall) {
	c := b.c
	ctx := calls[0].sent.ctx
	defer calls[0].sent.cancel()
	if len(calls) == 1 || b.off.Load() {
		for _, bc := range calls {
			bc.finish(c.solo(bc.ctx, bc.op))
		}
		return
	}
	idempotent := true
	body := make([]byte, 0, 16+len(calls)*80)
	body = append(body, `{"ops":[`...)
	for i, bc := range calls {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendBatchOp(body, bc.op)
		idempotent = idempotent && bc.op.Op == OpGet
	}
	body = append(body, "]}"...)
	var out BatchResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/batch", body: body, json: true, idempotent: idempotent}, &out)
	var ae *APIError
	if errors.As(err, &ae) && (ae.StatusCode == http.StatusNotFound && ae.Code == CodeNotFound || ae.StatusCode == http.StatusMethodNotAllowed) {
		b.off.Store(true) // a server older than the route
		for _, bc := range calls {
			go func() { bc.finish(c.solo(bc.ctx, bc.op)) }()
		}
		return
	}
	if err == nil && len(out.Results) != len(calls) {
		err = fmt.Errorf("httpapi: the answer to a batch of %d has %d results", len(calls), len(out.Results))
		if !idempotent {
			err = fmt.Errorf("%w: %w", yggr.ErrUnknownOutcome, err)
		}
	}
	for i, bc := range calls {
		if err != nil {
			if bc.op.Op == OpGet && !idempotent && errors.Is(err, yggr.ErrUnknownOutcome) {
				go func() { bc.finish(c.solo(bc.ctx, bc.op)) }() // a get may be asked again
				continue
			}
			bc.finish(BatchResult{}, err)
			continue
		}
		r := out.Results[i]
		if r.Error == nil {
			bc.finish(r, nil)
			continue
		}
		opErr := &APIError{StatusCode: r.Error.Status, Code: r.Error.Code, Message: r.Error.Message}
		retry, _, final := next(request{method: opMethod(bc.op.Op)}, opErr)
		if retry && bc.ctx.Err() == nil {
			go func() { bc.finish(c.solo(bc.ctx, bc.op)) }()
			continue
		}
		if final == nil {
			final = opErr
		}
		bc.finish(BatchResult{}, final)
	}
}

// batchContext is the context of a batch request: it ends at the latest of
// its calls' deadlines when every call has one (otherwise the client's
// per-attempt Timeout bounds it), or when cancelled.
func batchContext(calls []*batchCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, bc := range calls {
		dl, ok := bc.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// opMethod is the method of op's own route.
func opMethod(op string) string {
	switch op {
	case OpGet:
		return http.MethodGet
	case OpDelete:
		return http.MethodDelete
	}
	return http.MethodPut
}

// solo sends op alone on its own route.
func (c *Client) solo(ctx context.Context, op BatchOp) (BatchResult, error) {
	switch op.Op {
	case OpPut:
		var out PutResponse
		req := request{method: http.MethodPut, path: keyPath(op.Key), body: op.Value}
		if op.Lease != 0 {
			req.query = url.Values{"lease": {strconv.FormatUint(uint64(op.Lease), 10)}}
		}
		err := c.call(ctx, req, &out)
		return BatchResult{Index: out.Index}, err
	case OpDelete:
		var out DeleteResponse
		err := c.call(ctx, request{method: http.MethodDelete, path: keyPath(op.Key)}, &out)
		return BatchResult{Index: out.Index, Deleted: out.Deleted}, err
	}
	var q url.Values
	if op.Consistency != "" || op.MinIndex != 0 {
		q = url.Values{}
		if op.Consistency != "" {
			q.Set("consistency", op.Consistency)
		}
		if op.MinIndex != 0 {
			q.Set("min_index", strconv.FormatUint(op.MinIndex, 10))
		}
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: keyPath(op.Key), query: q})
	if err != nil {
		return BatchResult{}, err
	}
	defer resp.Close()
	value, err := readBody(resp.Response)
	if err != nil {
		return BatchResult{}, err
	}
	index, err := strconv.ParseUint(resp.Header.Get(HeaderIndex), 10, 64)
	if err != nil {
		return BatchResult{}, fmt.Errorf("httpapi: bad %s header %q", HeaderIndex, resp.Header.Get(HeaderIndex))
	}
	return BatchResult{Value: value, ModIndex: index}, nil
}

// appendBatchOp appends op as JSON, byte for byte what json.Marshal gives.
func appendBatchOp(b []byte, op BatchOp) []byte {
	b = append(b, `{"op":`...)
	b = appendJSONString(b, op.Op)
	b = append(b, `,"key":`...)
	if op.Key == nil {
		b = append(b, "null"...)
	} else {
		b = appendBase64String(b, op.Key)
	}
	if len(op.Value) > 0 {
		b = append(b, `,"value":`...)
		b = appendBase64String(b, op.Value)
	}
	if op.Lease != 0 {
		b = append(b, `,"lease":`...)
		b = strconv.AppendUint(b, uint64(op.Lease), 10)
	}
	if op.Consistency != "" {
		b = append(b, `,"consistency":`...)
		b = appendJSONString(b, op.Consistency)
	}
	if op.MinIndex != 0 {
		b = append(b, `,"min_index":`...)
		b = strconv.AppendUint(b, op.MinIndex, 10)
	}
	return append(b, '}')
}
