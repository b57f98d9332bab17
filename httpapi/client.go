package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yggrdb/yggr"
)

// DefaultClientTimeout bounds one attempt of a Client request when
// ClientOptions.Timeout is zero: a little longer than the server's default
// RequestTimeout, so that the server's own 504 arrives first.
const DefaultClientTimeout = 15 * time.Second

// maxResponseBytes bounds what a Client reads of a response other than a
// backup.
const maxResponseBytes = 256 << 20

// ClientOptions configures NewClient. The zero value is usable.
type ClientOptions struct {
	// Token is sent as "Authorization: Bearer <token>" when not empty.
	Token string
	// TLS configures HTTPS; endpoints given as host:port then use https.
	// Ignored when HTTPClient is set (configure its transport instead).
	TLS *tls.Config
	// Timeout bounds each attempt (default DefaultClientTimeout). A backup
	// is bounded by it until its response starts, then by ctx only.
	Timeout time.Duration
	// HTTPClient, if set, sends the requests; its Timeout should be zero or
	// longer than Timeout.
	HTTPClient *http.Client
	// WatchRetryFor bounds how long a Watch keeps trying to reconnect
	// without getting a stream (default DefaultWatchRetryFor); then it
	// yields an error matching ErrUnavailable. Negative: until ctx ends.
	WatchRetryFor time.Duration
	// Inflight bounds the Get requests the client has in flight at once
	// (default DefaultInflight), WriteInflight its Put and Delete requests
	// (default DefaultWriteInflight). A call made while its kind's
	// requests are all in flight waits for one to finish and then goes
	// with the calls of its kind that waited meanwhile in one POST
	// /v1/batch (batch_client.go): under load, one request for many
	// operations; a batch that is full goes at once. Inflight negative: no
	// bound and no batching, every call is its own request (WriteInflight
	// is then ignored).
	Inflight      int
	WriteInflight int
}

// clientMaxIdlePerHost is how many idle connections a Client's own
// transport keeps per endpoint (they close after 90 s idle).
const clientMaxIdlePerHost = 1024

// Client talks to the HTTP API of one or more yggr nodes. It is safe for
// concurrent use. Requests go to the endpoint that last answered. Put, Get
// and Delete calls made while ClientOptions.Inflight of them are in flight
// go together in one POST /v1/batch, each keeping its own answer and the
// retry policy below (batch_client.go).
//
// One retry policy covers every request, a watch's reconnections and
// KeepAliveLoop (the full statement is in retry.go):
//
//   - A request refused before it reached a log (its dial failed, or a 503
//     busy, dropped, no_leader or not_leader, a 408 or 429) goes to the next
//     endpoint. An endpoint that answered no_leader or not_leader is not
//     asked again within the call: its runtime already followed leader
//     changes for its whole budget (internal/node/route.go); another one
//     is, because the node that answered may be cut off from the majority.
//   - A request that may have been applied (the connection broke after it
//     was sent, the attempt timed out, a 503 closed or storage_failed, a
//     504) goes to the next endpoint only if it is idempotent: a GET or a
//     lease keepalive, and not after a timeout or 504 (each already took a
//     whole timeout). A put, delete, transaction, grant, revoke, lock or
//     membership change is never sent again then: the call returns an
//     error matching yggr.ErrUnknownOutcome (and the cause: the transport
//     error, ctx's error, yggr.ErrTimeout, the *APIError).
//   - Any other answer is returned as is; a 503 from Readyz is its answer.
//   - A call makes at most two passes over the endpoints, the second after
//     a pause of 125-250ms (an election's moment); a watch keeps making
//     passes, 250ms doubling to 5s apart, for ClientOptions.WatchRetryFor.
//
// Errors: an *APIError for an answer other than 2xx (matching the root
// package's sentinels, see APIError.Is); ErrUnavailable (wrapping the last
// transport error) when no endpoint answered; an error matching
// yggr.ErrTimeout when an attempt outlived ClientOptions.Timeout; ctx's
// error when ctx ended; yggr.ErrUnknownOutcome as above.
type Client struct {
	endpoints []*url.URL
	hc        *http.Client
	own       *http.Transport // nil when the caller supplied HTTPClient
	token     string
	timeout   time.Duration
	// watchRetryFor is ClientOptions.WatchRetryFor, defaulted.
	watchRetryFor time.Duration

	// batch queues Put, Get and Delete calls beyond Inflight and
	// WriteInflight (nil: Inflight < 0, every call alone).
	batch *batcher

	mu        sync.Mutex
	preferred int // index of the endpoint that last answered
}

// NewClient returns a client of the nodes at endpoints, each "host:port"
// (http, or https when opts.TLS is set) or a full http(s) URL, possibly
// with a path prefix.
func NewClient(endpoints []string, opts ClientOptions) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("httpapi: no endpoints")
	}
	c := &Client{hc: opts.HTTPClient, token: opts.Token, timeout: opts.Timeout, watchRetryFor: opts.WatchRetryFor}
	if c.timeout <= 0 {
		c.timeout = DefaultClientTimeout
	}
	if c.watchRetryFor == 0 {
		c.watchRetryFor = DefaultWatchRetryFor
	}
	if opts.Inflight >= 0 {
		gets, writes := opts.Inflight, opts.WriteInflight
		if gets == 0 {
			gets = DefaultInflight
		}
		if writes <= 0 {
			writes = DefaultWriteInflight
		}
		c.batch = newBatcher(c, writes, gets)
	}
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
	}
	for _, ep := range endpoints {
		ep = strings.TrimSpace(ep)
		if !strings.Contains(ep, "://") {
			ep = scheme + "://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil {
			return nil, fmt.Errorf("httpapi: bad endpoint %q: %v", ep, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("httpapi: bad endpoint %q: want host:port or http(s)://host:port[/prefix]", ep)
		}
		u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), strings.TrimRight(u.RawPath, "/")
		c.endpoints = append(c.endpoints, u)
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		// Keep a connection per concurrent caller: with the default (2 idle
		// per host), a closed loop of more callers dials and tears down a
		// TCP connection for nearly every request.
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, clientMaxIdlePerHost
		// The server never compresses: no Accept-Encoding header for it
		// to parse on every request.
		tr.DisableCompression = true
		if opts.TLS != nil {
			tr.TLSClientConfig = opts.TLS.Clone()
		}
		c.own = tr
		c.hc = &http.Client{Transport: tr}
	}
	return c, nil
}

// Close releases the idle connections of the client's own transport. The
// client stays usable.
func (c *Client) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// request describes one API call.
type request struct {
	method   string
	path     string // escaped, starting with "/"
	query    url.Values
	body     []byte
	json     bool // body is JSON
	no503Try bool // a 503 is the answer (readiness), not a reason to try another endpoint
	// idempotent marks a request other than a GET that may be sent again
	// whatever became of an earlier attempt (a keepalive: sending it twice
	// renews the lease twice, harmlessly); see retry.go.
	idempotent bool
	blocking   bool // waits as long as ctx allows (a lock, a campaign): no per-attempt Timeout
	// prior, if set, is an attempt already made (an operation of a batch
	// the answer refused): the call goes on from it as from its own
	// first attempt.
	prior *priorAttempt
}

// priorAttempt is an attempt made outside Client.do: which endpoint
// answered, and its error.
type priorAttempt struct {
	endpoint int
	err      error
}

// response is an answered request; Close releases it.
type response struct {
	*http.Response
	timer    *time.Timer        // nil: the attempt has no timer of its own
	cancel   context.CancelFunc // nil with timer
	endpoint int                // index of the endpoint that answered
}

func (r *response) Close() {
	r.Body.Close()
	r.stopTimer()
	if r.cancel != nil {
		r.cancel()
	}
}

// stopTimer stops the attempt's timer: a stream runs for as long as its
// ctx allows.
func (r *response) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
	}
}

// errAttemptTimeout cancels an attempt that outlived the client's Timeout.
var errAttemptTimeout = fmt.Errorf("%w: httpapi: request attempt timed out", yggr.ErrTimeout)

// do sends req, trying endpoints as the retry policy says (retry.go),
// and returns the first 2xx response, or the error the API or the network
// gave.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	n := len(c.endpoints)
	c.mu.Lock()
	first := c.preferred
	c.mu.Unlock()
	var lastAPI *APIError
	var lastErr error
	var skip []bool // endpoints that answered followed (no_leader, not_leader)
	start := 0
	if p := req.prior; p != nil { // attempt 0 was made: go on from it
		first, start = p.endpoint, 1
		if !errors.As(p.err, &lastAPI) {
			lastErr = p.err
		}
		retry, skipIt, out := next(req, p.err)
		if !retry {
			return nil, out
		}
		if skipIt {
			skip = make([]bool, n)
			skip[first] = true
		}
	}
	for attempt := start; attempt < 2*n; attempt++ {
		i := (first + attempt) % n
		if skip != nil && skip[i] {
			continue
		}
		if attempt == n { // a full pass failed: give an election a moment
			if err := sleep(ctx, retryPause(1)); err != nil {
				return nil, err
			}
		}
		resp, err := c.attempt(ctx, c.endpoints[i], req)
		if err == nil && resp.StatusCode/100 == 2 {
			c.mu.Lock()
			c.preferred = i
			c.mu.Unlock()
			resp.endpoint = i
			return resp, nil
		}
		if err != nil && ctx.Err() != nil {
			if !req.isIdempotent() && failureOf(err) != failRefused {
				// It was sent (or may have been) when ctx ended.
				return nil, fmt.Errorf("%w: %w", yggr.ErrUnknownOutcome, ctx.Err())
			}
			return nil, ctx.Err()
		}
		if err == nil {
			apiErr := readAPIError(resp.Response)
			resp.Close()
			lastAPI, err = apiErr, apiErr
		} else {
			lastErr = err
		}
		retry, skipIt, out := next(req, err)
		if !retry {
			return nil, out
		}
		if skipIt {
			if skip == nil {
				skip = make([]bool, n)
			}
			skip[i] = true
		}
	}
	if lastAPI != nil {
		return nil, lastAPI
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, lastErr)
}

// attempt sends req to one endpoint. The attempt's timer runs until the
// response is closed (or stopped by the caller for streaming).
func (c *Client) attempt(ctx context.Context, base *url.URL, req request) (*response, error) {
	target := base.Scheme + "://" + base.Host + base.EscapedPath() + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	// The attempt gets its own timer, which cancels it with
	// errAttemptTimeout, unless ctx ends first anyway: a blocking request,
	// or a ctx whose deadline comes no later than the timer would fire
	// (saving a context, a timer and their bookkeeping per request).
	actx, timer, cancel := ctx, (*time.Timer)(nil), context.CancelCauseFunc(nil)
	if dl, ok := ctx.Deadline(); !req.blocking && (!ok || time.Until(dl) > c.timeout) {
		actx, cancel = context.WithCancelCause(ctx)
		timer = time.AfterFunc(c.timeout, func() { cancel(errAttemptTimeout) })
	}
	stop := func() {
		if timer != nil {
			timer.Stop()
			cancel(nil)
		}
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(actx, req.method, target, body)
	if err != nil {
		stop()
		return nil, fmt.Errorf("httpapi: %v", err)
	}
	if req.json {
		hr.Header.Set("Content-Type", "application/json")
	} else if req.body != nil {
		hr.Header.Set("Content-Type", "application/octet-stream")
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		stop()
		if cause := context.Cause(actx); errors.Is(cause, errAttemptTimeout) && ctx.Err() == nil {
			return nil, cause
		}
		return nil, err
	}
	r := &response{Response: resp, timer: timer}
	if timer != nil {
		r.cancel = func() { cancel(nil) }
	}
	return r, nil
}

// readAPIError turns a non-2xx response into an *APIError.
func readAPIError(resp *http.Response) *APIError {
	e := &APIError{StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
		return e
	}
	e.Code = "http_" + strconv.Itoa(resp.StatusCode)
	e.Message = strings.TrimSpace(string(body))
	if len(e.Message) > 200 {
		e.Message = e.Message[:200]
	}
	return e
}

// call sends req and decodes a JSON answer into out (nil: discard).
func (c *Client) call(ctx context.Context, req request, out any) error {
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	body, err := readBody(resp.Response)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if p, ok := out.(*PutResponse); ok && parsePutResponse(body, p) {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("httpapi: decoding the answer to %s %s: %v", req.method, req.path, err)
	}
	return nil
}

// parsePutResponse decodes body into p if it is exactly what the server
// writes for a PUT ({"index":N} and a newline), and reports whether it
// was; anything else is left to encoding/json.
func parsePutResponse(body []byte, p *PutResponse) bool {
	digits, ok := bytes.CutPrefix(body, []byte(`{"index":`))
	if !ok {
		return false
	}
	digits, ok = bytes.CutSuffix(digits, []byte("}\n"))
	if !ok || len(digits) == 0 || len(digits) > 20 {
		return false
	}
	var n uint64
	for _, d := range digits {
		if d < '0' || d > '9' || (n == 0 && d == '0' && len(digits) > 1) {
			return false
		}
		if n > (math.MaxUint64-uint64(d-'0'))/10 {
			return false
		}
		n = n*10 + uint64(d-'0')
	}
	p.Index = n
	return true
}

func readBody(resp *http.Response) ([]byte, error) {
	body, err := readAllSized(io.LimitReader(resp.Body, maxResponseBytes+1), resp.ContentLength)
	if err != nil {
		if cause := context.Cause(resp.Request.Context()); errors.Is(cause, errAttemptTimeout) {
			return nil, cause
		}
		return nil, fmt.Errorf("httpapi: reading the response: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("httpapi: response larger than %d bytes", maxResponseBytes)
	}
	return body, nil
}

// readAllSized is io.ReadAll with a first buffer for size bytes (when
// known, -1 otherwise, and up to 64 KiB), one byte more so that the end is
// seen without growing it.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > 64<<10 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// jsonBody marshals one of this package's request structs, which cannot
// fail (strings, bools, integers and byte slices only).
func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// keyPath is the escaped path of key's single-key route.
func keyPath(key []byte) string { return kvPrefix + url.PathEscape(string(key)) }

// Put sets key to value and returns the log index of the write, as
// yggr.DB.Put (whose PutIndex also returns the index) with the same
// options: yggr.WithLease(id) attaches the key to lease id, so that
// revoking the lease, or its expiry, deletes the key; the put then fails
// with an error matching yggr.ErrLeaseNotFound (and writes nothing) if
// the lease does not exist. Without WithLease (or with lease 0) the key
// is attached to no lease: detached from any it had.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...yggr.PutOption) (uint64, error) {
	if value == nil {
		value = []byte{}
	}
	res, err := c.exec(ctx, BatchOp{Op: OpPut, Key: key, Value: value, Lease: yggr.PutSettingsOf(opts...).Lease})
	return res.Index, err
}

// Get returns key's value and modification index, read as the options say
// (yggr.WithConsistency, yggr.AtLeast; linearizable by default), as
// DB.Get does. A missing key is an error matching yggr.ErrNotFound;
// yggr.ReadRevision is not served over HTTP (an error matching
// yggr.ErrInvalid).
func (c *Client) Get(ctx context.Context, key []byte, opts ...yggr.ReadOption) ([]byte, uint64, error) {
	rs := yggr.ReadSettingsOf(opts...)
	consistency, err := readConsistency(rs)
	if err != nil {
		return nil, 0, err
	}
	res, err := c.exec(ctx, BatchOp{Op: OpGet, Key: key, Consistency: consistency, MinIndex: rs.AtLeast})
	if err != nil {
		return nil, 0, err
	}
	if res.Value == nil {
		res.Value = []byte{}
	}
	return res.Value, res.ModIndex, nil
}

// Delete removes key and returns the log index of the write and whether
// the key existed.
func (c *Client) Delete(ctx context.Context, key []byte) (uint64, bool, error) {
	res, err := c.exec(ctx, BatchOp{Op: OpDelete, Key: key})
	return res.Index, res.Deleted, err
}

// readQuery is the query string that asks a node for a read as rs says.
func readQuery(rs yggr.ReadSettings) (url.Values, error) {
	c, err := readConsistency(rs)
	return readParams(url.Values{}, c, rs.AtLeast), err
}

// readConsistency is the consistency parameter of a read as rs says ("":
// linearizable, the default).
func readConsistency(rs yggr.ReadSettings) (string, error) {
	if rs.Revision != nil {
		return "", fmt.Errorf("%w: ReadRevision is not served over HTTP", yggr.ErrInvalid)
	}
	if rs.Consistency == yggr.Linearizable {
		return "", nil
	}
	return rs.Consistency.String(), nil
}

// readParams adds a read's consistency and min_index parameters (those
// not at their defaults) to q, allocating it if nil and needed.
func readParams(q url.Values, consistency string, atLeast uint64) url.Values {
	if consistency == "" && atLeast == 0 {
		return q
	}
	if q == nil {
		q = url.Values{}
	}
	if consistency != "" {
		q.Set("consistency", consistency)
	}
	if atLeast != 0 {
		q.Set("min_index", strconv.FormatUint(atLeast, 10))
	}
	return q
}

// ScanRequest selects the keys of a Scan: those with Prefix (if set) and
// Start ≤ key < End (empty: unbounded), at most Limit of them (0: the
// server's default, DefaultScanLimit), read at Consistency (default
// linearizable).
type ScanRequest struct {
	Prefix, Start, End []byte
	Limit              int
	Consistency        yggr.Consistency
	atLeast            uint64 // List's yggr.AtLeast
}

// Scan returns one page of items in key order; More says whether more
// remain (continue with Start = last key + "\x00").
func (c *Client) Scan(ctx context.Context, sr ScanRequest) (ScanResponse, error) {
	q, err := readQuery(yggr.ReadSettings{Consistency: sr.Consistency, AtLeast: sr.atLeast})
	if err != nil {
		return ScanResponse{}, err
	}
	for name, b := range map[string][]byte{"prefix": sr.Prefix, "start": sr.Start, "end": sr.End} {
		if len(b) > 0 {
			q.Set(name, string(b))
		}
	}
	if sr.Limit != 0 {
		q.Set("limit", strconv.Itoa(sr.Limit))
	}
	var out ScanResponse
	err = c.call(ctx, request{method: http.MethodGet, path: "/v1/kv", query: q}, &out)
	return out, err
}

// List returns up to limit items with start ≤ key < end (end empty: to
// the last key) in key order, and whether more remain, read as the options
// say (yggr.WithConsistency, yggr.AtLeast, yggr.ReadRevision; linearizable
// by default), as DB.List does. One difference: a page is one request,
// read at one point in time, so limit ≤ 0 means the server's default page
// (DefaultScanLimit), not every item, and a limit above MaxScanLimit
// returns MaxScanLimit items with more set; continue from the last key
// plus "\x00" (each page is then read at its own revision).
func (c *Client) List(ctx context.Context, start, end []byte, limit int, opts ...yggr.ReadOption) ([]yggr.Item, bool, error) {
	rs := yggr.ReadSettingsOf(opts...)
	out, err := c.Scan(ctx, ScanRequest{Start: start, End: end, Limit: max(limit, 0), Consistency: rs.Consistency, atLeast: rs.AtLeast})
	if err != nil {
		return nil, false, err
	}
	if rs.Revision != nil {
		*rs.Revision = out.Revision
	}
	items := make([]yggr.Item, len(out.Items))
	for i, it := range out.Items {
		items[i] = yggr.Item{Key: it.Key, Value: it.Value, ModIndex: it.ModIndex, CreateIndex: it.CreateIndex, Version: it.Version}
	}
	return items, out.More, nil
}

// Txn applies a transaction.
func (c *Client) Txn(ctx context.Context, t TxnRequest) (TxnResponse, error) {
	var out TxnResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/txn", body: jsonBody(t), json: true}, &out)
	return out, err
}

// Status returns the answering node's view of the cluster.
func (c *Client) Status(ctx context.Context) (yggr.Status, error) {
	var out yggr.Status
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/status"}, &out)
	return out, err
}

// Members returns the cluster's members as the answering node sees them.
func (c *Client) Members(ctx context.Context) ([]yggr.Member, error) {
	var out MembersResponse
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/members"}, &out)
	return out.Members, err
}

// AddLearner adds node id, with peer address addr, as a learner: it
// receives the log but does not vote (DB.AddLearner).
func (c *Client) AddLearner(ctx context.Context, id, addr string) error {
	return c.addMember(ctx, AddMemberRequest{ID: id, Addr: addr, Learner: true})
}

// AddVoter adds node id, with peer address addr, as a voter at once
// (DB.AddVoter); AddLearner then Promote is safer for a node far behind.
func (c *Client) AddVoter(ctx context.Context, id, addr string) error {
	return c.addMember(ctx, AddMemberRequest{ID: id, Addr: addr})
}

func (c *Client) addMember(ctx context.Context, req AddMemberRequest) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/v1/members", body: jsonBody(req), json: true}, nil)
}

// Promote makes the learner id a voter (DB.Promote).
func (c *Client) Promote(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodPost, path: "/v1/members/" + url.PathEscape(id) + "/promote"}, nil)
}

// RemoveMember removes the member id.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/v1/members/" + url.PathEscape(id)}, nil)
}

// TransferLeadership hands leadership to voter to (any up-to-date voter if
// empty) and waits until it leads (DB.TransferLeadership).
func (c *Client) TransferLeadership(ctx context.Context, to string) error {
	body := jsonBody(TransferRequest{To: to})
	return c.call(ctx, request{method: http.MethodPost, path: "/v1/leader/transfer", body: body, json: true}, nil)
}

// Snapshot makes the answering node take a snapshot; it returns its index.
func (c *Client) Snapshot(ctx context.Context) (uint64, error) {
	var out SnapshotResponse
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/snapshot"}, &out)
	return out.Index, err
}

// Backup writes a backup of the answering node's state to w and returns
// the number of bytes written. A backup cut short (the server failed
// midway) is an error.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/backup"})
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	resp.stopTimer() // the backup streams for as long as ctx allows
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("httpapi: backup cut short after %d bytes: %w", n, err)
	}
	if resp.Trailer.Get(HeaderIndex) == "" {
		return n, fmt.Errorf("httpapi: backup cut short after %d bytes (no %s trailer)", n, HeaderIndex)
	}
	return n, nil
}

// Metrics returns the answering node's metrics in Prometheus text format.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/metrics"})
	if err != nil {
		return "", err
	}
	defer resp.Close()
	body, err := readBody(resp.Response)
	return string(body), err
}

// Healthz returns nil if an endpoint's process serves HTTP.
func (c *Client) Healthz(ctx context.Context) error {
	return c.call(ctx, request{method: http.MethodGet, path: "/healthz"}, nil)
}

// Readyz returns nil if the answering node knows a leader and has applied
// close to its commit index; otherwise an *APIError with status 503 (a 503
// is not retried on another endpoint).
func (c *Client) Readyz(ctx context.Context) error {
	return c.call(ctx, request{method: http.MethodGet, path: "/readyz", no503Try: true}, nil)
}
