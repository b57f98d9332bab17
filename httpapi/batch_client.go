package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yggrdb/yggr"
)

// A Client's Put, Get and Delete calls share requests when many run at
// once. Writes (puts and deletes) and gets are two kinds, each with its own
// bound on requests in flight (ClientOptions.WriteInflight, Inflight), so
// that a get never waits for a commit nor a write for a read. A call goes
// out at once, alone, on its own route while fewer than its kind's bound
// of requests are in flight. Otherwise it queues; when a request of its
// kind finishes, the calls of that kind queued meanwhile go in one POST
// /v1/batch, up to batchMaxOps calls and batchMaxBytes of body, once the
// callers the last batch answered are back (awaitCallers); a queue that
// holds a full batch sends it at once, beyond the bound. So a lone caller
// pays no wait, and under load the server parses, schedules and answers
// one HTTP request for many operations.
//
// Writes are bounded to one request in flight by default, gets to four:
// every write request costs the servers a Raft round (a log write and
// sync on each node), which costs about the same for one write as for a
// hundred, so a second write request in flight mostly splits the next
// round's writes over two rounds; gets cost no round of their own (the
// leader serves every get that arrives during a read round with the next
// one), and more of them in flight overlap their HTTP work. Measured with
// three yggr serve processes (bench, yggr-serve, 2 cores), before the
// batches waited for their callers (awaitCallers): writes at
// concurrency 16, 64 and 256 with one write request in flight instead of
// four: +4%, +19%, +14% writes/s, -10%, -20%, -15% server CPU per write,
// lower p50 and p99; linearizable gets at concurrency 64 with one get in
// flight instead of four: -20% gets/s. A get with yggr.AtLeast (it may wait
// for the node to catch up) and a call whose key and value pass
// batchSoloBytes go alone at once, whatever is in flight.
//
// Each call keeps its own outcome and the retry policy (retry.go):
//
//   - the batch request as a whole goes through Client.do as one request,
//     idempotent if it holds gets; what do returns is each call's answer;
//   - an operation the batch's answer failed goes on alone from that
//     answer as from its own first attempt (request.prior): sent again to
//     the next endpoint if the policy says so (refused, followed, a get of
//     unknown outcome), otherwise the call's error, as alone;
//   - an answer that does not arrive whole after its 200 (the connection
//     broke, the attempt timed out) is an unknown outcome: a write's error
//     matches yggr.ErrUnknownOutcome, a get goes on alone;
//   - a batch the server refused whole (400 or 413: nothing ran; 404 or
//     405: a server older than the route, and batching stops for the
//     client's lifetime) sends each of its calls alone;
//   - a caller whose ctx ends while its call is queued gets ctx's error
//     (nothing was sent); once the batch is in flight, ctx's error, also
//     matching yggr.ErrUnknownOutcome for a put or delete. A batch whose
//     callers all gave up is cancelled.
//
// Calls sent alone after a batch take their own slots, at most Inflight
// of them at once, so that a node answering busy to a batch is not sent
// the batch's calls all at once.

// DefaultInflight is ClientOptions.Inflight's default: gets in flight.
const DefaultInflight = 4

// DefaultWriteInflight is ClientOptions.WriteInflight's default: puts and
// deletes in flight.
const DefaultWriteInflight = 1

// Kinds of calls, each with its own queue and bound.
const (
	kindWrite = iota
	kindGet
	kinds
)

// kindOf returns op's kind.
func kindOf(op BatchOp) int {
	if op.Op == OpGet {
		return kindGet
	}
	return kindWrite
}

// Bounds of one batch the client sends.
const (
	batchMaxOps    = MaxBatchOps
	batchMaxBytes  = 1 << 20
	batchSoloBytes = 64 << 10
)

// callState is where a queued call is, guarded by batcher.mu.
type callState uint8

const (
	callQueued callState = iota
	callSent
	callAbandoned // its caller's ctx ended before it was sent
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
	// counted is set before done closes when sent's answer finished the
	// call and counts it in sent.waking.
	counted bool
}

// returned records that the caller saw the call finished.
func (bc *batchCall) returned() {
	if bc.counted && bc.sent.waking.Add(-1) == 0 {
		close(bc.sent.woken)
	}
}

func (bc *batchCall) finish(res BatchResult, err error) {
	bc.res, bc.err = res, err
	close(bc.done)
}

// size is the call's share of a batch body, roughly (base64 and field
// names).
func (bc *batchCall) size() int { return 64 + (len(bc.op.Key)+len(bc.op.Value))*4/3 }

// sentBatch is one batch request: its context ends when the last of its
// callers gives up (nobody waits for the answer: the slot is freed) or at
// batchContext's deadline.
type sentBatch struct {
	ctx    context.Context
	cancel context.CancelFunc
	left   atomic.Int32 // callers still waiting
	// waking counts the callers the batch's answer finished that have not
	// yet returned from exec; woken is closed when the last one has
	// (batchCall.returned).
	waking atomic.Int32
	woken  chan struct{}
}

// awaitCallers waits until the callers sb's answer finished have returned
// from exec, or for at most callersBack. Only then does the next batch of
// their kind go: in a closed loop they come straight back, and a batch
// taken at once holds only the calls queued while sb was in flight, so that
// two halves of the callers alternate, every round carrying half of them
// (the same as the reads' batches in internal/node before 062ac0f):
// TestClientBatchWaitsForItsCallers; the sidecar's numbers are in the
// commit that added it and in BENCHMARKS.md (fifth pass).
func (sb *sentBatch) awaitCallers(bound time.Duration) {
	select {
	case <-sb.woken:
		return
	default:
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-sb.woken:
	case <-t.C:
	}
}

// callersBack bounds how long the next batch waits for the callers of the
// one before it (a caller that gave up while its call was in flight never
// comes back). A batcher reads it once, when made.
var callersBack = 200 * time.Microsecond // a variable for tests

// batcher holds a Client's queued calls.
type batcher struct {
	c     *Client
	max   [kinds]int    // ClientOptions.WriteInflight and Inflight
	off   atomic.Bool   // the server does not know /v1/batch
	alone chan struct{} // slots of the calls sent alone after a batch
	mu    sync.Mutex
	// inflight counts each kind's requests in flight, alone or batched.
	inflight [kinds]int
	queue    [kinds][]*batchCall
	// queued is the size of each queue's calls (batchCall.size), while
	// none of them is dropped (takeLocked recounts).
	queued [kinds]int
	// callersBack is callersBack when the batcher was made.
	callersBack time.Duration
}

func newBatcher(c *Client, writes, gets int) *batcher {
	return &batcher{c: c, max: [kinds]int{writes, gets}, alone: make(chan struct{}, max(writes, gets)), callersBack: callersBack}
}

// exec runs op: at once alone, or queued for the next batch.
func (c *Client) exec(ctx context.Context, op BatchOp) (BatchResult, error) {
	b := c.batch
	if b == nil || b.off.Load() || op.MinIndex != 0 || len(op.Key)+len(op.Value) > batchSoloBytes {
		return c.solo(ctx, op, nil)
	}
	if err := ctx.Err(); err != nil {
		return BatchResult{}, err
	}
	k := kindOf(op)
	b.mu.Lock()
	if b.inflight[k] < b.max[k] {
		b.inflight[k]++
		b.mu.Unlock()
		res, err := c.solo(ctx, op, nil)
		b.release(k)
		return res, err
	}
	bc := &batchCall{ctx: ctx, op: op, done: make(chan struct{})}
	b.queue[k] = append(b.queue[k], bc)
	b.queued[k] += bc.size()
	var full []*batchCall
	if len(b.queue[k]) >= batchMaxOps || b.queued[k] >= batchMaxBytes {
		// A full batch waits for nothing: no later call could join it.
		if full = b.takeLocked(k); full != nil {
			b.inflight[k]++
		}
	}
	b.mu.Unlock()
	if full != nil {
		go b.send(k, full)
	}
	select {
	case <-bc.done:
		bc.returned()
		return bc.res, bc.err
	case <-ctx.Done():
	}
	select {
	case <-bc.done: // answered as ctx ended: the answer stands
		bc.returned()
		return bc.res, bc.err
	default:
	}
	b.mu.Lock()
	st := bc.state
	if st == callQueued {
		bc.state = callAbandoned
		if i := slices.Index(b.queue[k], bc); i >= 0 {
			b.queue[k] = slices.Delete(b.queue[k], i, i+1)
			b.queued[k] -= bc.size()
		}
	}
	b.mu.Unlock()
	if st != callSent {
		return BatchResult{}, ctx.Err()
	}
	if bc.sent.left.Add(-1) == 0 {
		bc.sent.cancel()
	}
	if op.Op != OpGet {
		return BatchResult{}, fmt.Errorf("%w: %w", yggr.ErrUnknownOutcome, ctx.Err())
	}
	return BatchResult{}, ctx.Err()
}

// release ends one request of kind k in flight: its slot goes to the
// calls of that kind queued meanwhile, if any.
func (b *batcher) release(k int) {
	b.mu.Lock()
	calls := b.takeLocked(k)
	if calls == nil {
		b.inflight[k]--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go b.send(k, calls)
}

// send sends calls, then the calls of kind k queued meanwhile, until none
// are.
func (b *batcher) send(k int, calls []*batchCall) {
	for calls != nil {
		b.sendBatch(calls)
		calls[0].sent.awaitCallers(b.callersBack)
		b.mu.Lock()
		calls = b.takeLocked(k)
		if calls == nil {
			b.inflight[k]--
		}
		b.mu.Unlock()
	}
}

// takeLocked takes the next batch off kind k's queue (nil: nothing to
// send), marking its calls sent, up to the bounds. A call whose caller
// already gave up is dropped, not sent.
func (b *batcher) takeLocked(k int) []*batchCall {
	var calls []*batchCall
	bytes, rest := 0, 0
	kept := b.queue[k][:0]
	for _, bc := range b.queue[k] {
		switch {
		case bc.ctx.Err() != nil:
			bc.state = callAbandoned
			bc.finish(BatchResult{}, bc.ctx.Err())
			continue
		case len(calls) == batchMaxOps || len(calls) > 0 && bytes+bc.size() > batchMaxBytes:
			kept = append(kept, bc)
			rest += bc.size()
			continue
		}
		bytes += bc.size()
		calls = append(calls, bc)
	}
	clear(b.queue[k][len(kept):])
	b.queue[k], b.queued[k] = kept, rest
	if calls == nil {
		return nil
	}
	sb := &sentBatch{woken: make(chan struct{})}
	sb.ctx, sb.cancel = batchContext(calls)
	sb.left.Store(int32(len(calls)))
	for _, bc := range calls {
		bc.state, bc.sent = callSent, sb
	}
	return calls
}

// sendBatch sends calls in one request (one call alone) and finishes
// each, or hands it to sendAlone. The calls it finishes are counted in
// their sentBatch's waking first (awaitCallers).
func (b *batcher) sendBatch(calls []*batchCall) {
	c := b.c
	sb := calls[0].sent
	ctx := sb.ctx
	defer sb.cancel()
	type answer struct {
		bc  *batchCall
		res BatchResult
		err error
	}
	var answers []answer
	finish := func(bc *batchCall, res BatchResult, err error) { answers = append(answers, answer{bc, res, err}) }
	defer func() {
		sb.waking.Store(int32(len(answers)))
		if len(answers) == 0 {
			close(sb.woken)
		}
		for _, a := range answers {
			a.bc.counted = true
		}
		for _, a := range answers {
			a.bc.finish(a.res, a.err)
		}
	}()
	if b.off.Load() {
		b.sendAlone(calls, nil)
		return
	}
	if len(calls) == 1 {
		res, err := c.solo(calls[0].ctx, calls[0].op, nil)
		finish(calls[0], res, err)
		return
	}
	body := make([]byte, 0, 16+len(calls)*80)
	body = append(body, `{"ops":[`...)
	for i, bc := range calls {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendBatchOp(body, bc.op)
	}
	body = append(body, "]}"...)
	reads := kindOf(calls[0].op) == kindGet
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/batch", body: body, json: true, idempotent: reads})
	var ae *APIError
	switch {
	case errors.As(err, &ae) && (ae.StatusCode == http.StatusNotFound && ae.Code == CodeNotFound || ae.StatusCode == http.StatusMethodNotAllowed):
		b.off.Store(true) // a server older than the route
		b.sendAlone(calls, nil)
		return
	case errors.As(err, &ae) && (ae.StatusCode == http.StatusBadRequest || ae.StatusCode == http.StatusRequestEntityTooLarge):
		b.sendAlone(calls, nil) // refused whole (a body limit, a newer field): nothing ran
		return
	case err != nil:
		for _, bc := range calls {
			finish(bc, BatchResult{}, err)
		}
		return
	}
	endpoint := resp.endpoint
	out, err := readBatchResponse(resp, len(calls))
	if err != nil { // after the 200: an unknown outcome
		for _, bc := range calls {
			if reads {
				b.sendAlone([]*batchCall{bc}, &priorAttempt{endpoint: endpoint, err: err})
			} else {
				finish(bc, BatchResult{}, fmt.Errorf("%w: %w", yggr.ErrUnknownOutcome, err))
			}
		}
		return
	}
	for i, bc := range calls {
		r := out.Results[i]
		if r.Error == nil {
			finish(bc, r, nil)
			continue
		}
		opErr := &APIError{StatusCode: r.Error.Status, Code: r.Error.Code, Message: r.Error.Message}
		if retry, _, final := next(request{method: opMethod(bc.op.Op)}, opErr); !retry {
			finish(bc, BatchResult{}, final)
			continue
		}
		b.sendAlone([]*batchCall{bc}, &priorAttempt{endpoint: endpoint, err: opErr})
	}
}

// readBatchResponse reads and decodes the answer to a batch of n calls.
func readBatchResponse(resp *response, n int) (BatchResponse, error) {
	defer resp.Close()
	body, err := readBody(resp.Response)
	if err != nil {
		return BatchResponse{}, err
	}
	var out BatchResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("httpapi: decoding the answer to a batch: %v", err)
	}
	if len(out.Results) != n {
		return out, fmt.Errorf("httpapi: the answer to a batch of %d has %d results", n, len(out.Results))
	}
	return out, nil
}

// sendAlone sends each call alone, each on its own goroutine once one of
// the batcher's alone slots is free, going on from prior when it is set.
func (b *batcher) sendAlone(calls []*batchCall, prior *priorAttempt) {
	for _, bc := range calls {
		go func() {
			select {
			case b.alone <- struct{}{}:
			case <-bc.ctx.Done(): // not sent again: what ran (nothing, or a get) is known
				bc.finish(BatchResult{}, bc.ctx.Err())
				return
			}
			defer func() { <-b.alone }()
			bc.finish(b.c.solo(bc.ctx, bc.op, prior))
		}()
	}
}

// batchContext is the context of a batch request: it carries the first
// call's values (a trace, say), ends at the latest of its calls' deadlines
// when every call has one (otherwise the client's per-attempt Timeout
// bounds it), or when cancelled.
func batchContext(calls []*batchCall) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(calls[0].ctx)
	var latest time.Time
	for _, bc := range calls {
		dl, ok := bc.ctx.Deadline()
		if !ok {
			return context.WithCancel(base)
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(base, latest)
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

// solo sends op alone on its own route, going on from prior if set.
func (c *Client) solo(ctx context.Context, op BatchOp, prior *priorAttempt) (BatchResult, error) {
	switch op.Op {
	case OpPut:
		var out PutResponse
		req := request{method: http.MethodPut, path: keyPath(op.Key), body: op.Value, prior: prior}
		if op.Lease != 0 {
			req.query = url.Values{"lease": {strconv.FormatUint(uint64(op.Lease), 10)}}
		}
		err := c.call(ctx, req, &out)
		return BatchResult{Index: out.Index}, err
	case OpDelete:
		var out DeleteResponse
		err := c.call(ctx, request{method: http.MethodDelete, path: keyPath(op.Key), prior: prior}, &out)
		return BatchResult{Index: out.Index, Deleted: out.Deleted}, err
	}
	q := readParams(nil, op.Consistency, op.MinIndex)
	resp, err := c.do(ctx, request{method: http.MethodGet, path: keyPath(op.Key), query: q, prior: prior})
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
