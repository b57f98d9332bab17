package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/testutil"
	"pgregory.net/rapid"
)

// batchBody is the JSON of a BatchRequest of ops.
func batchBody(t *testing.T, ops ...BatchOp) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(BatchRequest{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// Each operation of a batch gets the result or the error it would have had
// alone, whatever the others do.
func TestBatchEachOpAsAlone(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	ctx := testCtx(t)
	// The operations run concurrently, in no order: none reads a key
	// another writes.
	for _, key := range []string{"old", "gone"} {
		if err := db.Put(ctx, []byte(key), []byte("v0")); err != nil {
			t.Fatal(err)
		}
	}
	r := send(t, srv, "POST", "/v1/batch", batchBody(t,
		BatchOp{Op: OpPut, Key: []byte("a"), Value: []byte("1")},
		BatchOp{Op: OpGet, Key: []byte("old")},
		BatchOp{Op: OpGet, Key: []byte("missing")},
		BatchOp{Op: OpDelete, Key: []byte("gone")},
		BatchOp{Op: OpDelete, Key: []byte("never")},
		BatchOp{Op: OpPut, Key: []byte("empty")},
		BatchOp{Op: OpPut, Key: nil, Value: []byte("x")},
		BatchOp{Op: "cas", Key: []byte("a")},
		BatchOp{Op: OpGet, Key: []byte("a"), Value: []byte("x")},
		BatchOp{Op: OpPut, Key: []byte("a"), Consistency: "stale"},
		BatchOp{Op: OpGet, Key: []byte("old"), Consistency: "eventual"},
		BatchOp{Op: OpGet, Key: []byte("old"), Consistency: "lease"},
		BatchOp{Op: OpPut, Key: []byte("b"), Value: bytes.Repeat([]byte("v"), yggr.DefaultMaxValueBytes+1)},
		BatchOp{Op: OpPut, Key: []byte("b"), Value: []byte("2"), Lease: 12345},
		BatchOp{Op: OpPut, Key: []byte(strings.Repeat("k", yggr.DefaultMaxKeyBytes+1))},
	), nil)
	res := decode[BatchResponse](t, r)
	type outcome struct {
		Written, Deleted, Found bool
		Value                   string
		Status                  int
		Code                    string
	}
	var got []outcome
	for _, br := range res.Results {
		o := outcome{Written: br.Index != 0 && br.ModIndex == 0, Deleted: br.Deleted, Found: br.ModIndex != 0, Value: string(br.Value)}
		if br.Error != nil {
			o.Status, o.Code = br.Error.Status, br.Error.Code
			if br.Error.Message == "" {
				t.Errorf("error %+v without a message", br.Error)
			}
		}
		got = append(got, o)
	}
	want := []outcome{
		{Written: true},
		{Found: true, Value: "v0"},
		{Status: 404, Code: CodeNotFound},
		{Written: true, Deleted: true},
		{Written: true},
		{Written: true},
		{Status: 400, Code: CodeInvalid},
		{Status: 400, Code: CodeInvalid},
		{Status: 400, Code: CodeInvalid},
		{Status: 400, Code: CodeInvalid},
		{Status: 400, Code: CodeInvalid},
		{Status: 400, Code: CodeLeaseDisabled},
		{Status: 413, Code: CodeTooLarge},
		{Status: 404, Code: CodeLeaseNotFound},
		{Status: 413, Code: CodeTooLarge},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	// What the batch wrote is there; what it refused is not.
	for key, want := range map[string]string{"a": "1", "empty": ""} {
		if v, err := db.Get(ctx, []byte(key)); err != nil || string(v) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", key, v, err, want)
		}
	}
	for _, key := range []string{"gone", "b"} {
		if _, err := db.Get(ctx, []byte(key)); !errors.Is(err, yggr.ErrNotFound) {
			t.Errorf("Get(%s): err = %v, want not found", key, err)
		}
	}
	// Each operation is counted by its op and the status it had.
	wantMetrics(t, srv,
		`yggr_http_batch_ops_total{code="200",op="put"} 2`,
		`yggr_http_batch_ops_total{code="200",op="delete"} 2`,
		`yggr_http_batch_ops_total{code="404",op="get"} 1`,
		`yggr_http_batch_ops_total{code="400",op="invalid"} 1`,
		// Writes refused when checked, and refused by the state machine
		// (the unknown lease): each counted once.
		`yggr_http_batch_ops_total{code="400",op="put"} 2`,
		`yggr_http_batch_ops_total{code="413",op="put"} 2`,
		`yggr_http_batch_ops_total{code="404",op="put"} 1`,
		`yggr_http_requests_total{code="200",route="POST /v1/batch"} 1`,
	)
	// The get saw the item's indexes, as GET's headers give them.
	it, _ := db.GetItem(ctx, []byte("a"))
	r = send(t, srv, "POST", "/v1/batch", batchBody(t, BatchOp{Op: OpGet, Key: []byte("a")}), nil)
	g := decode[BatchResponse](t, r).Results[0]
	if g.ModIndex != it.ModIndex || g.CreateIndex != it.CreateIndex || g.Version != it.Version || string(g.Value) != "1" {
		t.Errorf("get result %+v, item %+v", g, it)
	}
}

// A panic while a batch's writes are proposed together is a 500 for each
// of them, logged once and counted once each; the batch's gets and the
// server go on.
func TestBatchWritesPanic(t *testing.T) {
	db := openDB(t)
	var logs testutil.LogBuffer
	h := NewHandler(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}).(*handler)
	h.batchWritesHook = func() { panic("injected") }
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := db.Put(testCtx(t), []byte("g"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	r := send(t, srv, "POST", "/v1/batch", batchBody(t,
		BatchOp{Op: OpPut, Key: []byte("a"), Value: []byte("1")},
		BatchOp{Op: OpGet, Key: []byte("g")},
		BatchOp{Op: OpDelete, Key: []byte("g")},
		BatchOp{Op: OpPut, Key: nil}, // refused when checked, before the panic
	), nil)
	res := decode[BatchResponse](t, r)
	if r.status != http.StatusOK || len(res.Results) != 4 {
		t.Fatalf("status %d, %d results: %s", r.status, len(res.Results), r.body)
	}
	for _, i := range []int{0, 2} {
		if e := res.Results[i].Error; e == nil || e.Status != http.StatusInternalServerError || e.Code != CodeInternal {
			t.Errorf("write %d: %+v, want a 500 internal error", i, res.Results[i])
		}
	}
	if g := res.Results[1]; g.Error != nil || string(g.Value) != "v" {
		t.Errorf("the get beside the panic: %+v", g)
	}
	if e := res.Results[3].Error; e == nil || e.Status != http.StatusBadRequest {
		t.Errorf("the refused put: %+v, want its 400", res.Results[3])
	}
	if n := strings.Count(logs.String(), "panic serving a batch's writes"); n != 1 {
		t.Errorf("the panic was logged %d times, want once:\n%s", n, logs.String())
	}
	wantMetrics(t, srv,
		`yggr_http_batch_ops_total{code="500",op="put"} 1`,
		`yggr_http_batch_ops_total{code="500",op="delete"} 1`,
		`yggr_http_batch_ops_total{code="400",op="put"} 1`,
		`yggr_http_batch_ops_total{code="200",op="get"} 1`,
	)
}

// A panic in one operation of a batch is that operation's 500, logged and
// counted; the batch's other operations run, and the server goes on.
func TestBatchOpPanic(t *testing.T) {
	db := openDB(t)
	var logs testutil.LogBuffer
	h := NewHandler(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}).(*handler)
	h.batchOpHook = func(op BatchOp) {
		if string(op.Key) == "boom" {
			panic("injected")
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := send(t, srv, "POST", "/v1/batch", batchBody(t,
		BatchOp{Op: OpPut, Key: []byte("a"), Value: []byte("1")},
		BatchOp{Op: OpPut, Key: []byte("boom"), Value: []byte("x")},
		BatchOp{Op: OpGet, Key: []byte("boom")},
	), nil)
	res := decode[BatchResponse](t, r)
	if r.status != http.StatusOK || len(res.Results) != 3 {
		t.Fatalf("status %d, %d results: %s", r.status, len(res.Results), r.body)
	}
	if res.Results[0].Error != nil || res.Results[0].Index == 0 {
		t.Errorf("the put beside the panics: %+v", res.Results[0])
	}
	for _, got := range res.Results[1:] {
		if e := got.Error; e == nil || e.Status != http.StatusInternalServerError || e.Code != CodeInternal {
			t.Errorf("the operation that panicked: %+v, want a 500 internal error", got)
		}
	}
	ctx := testCtx(t)
	if v, err := db.Get(ctx, []byte("a")); err != nil || string(v) != "1" {
		t.Errorf("Get(a) = %q, %v", v, err)
	}
	if _, err := db.Get(ctx, []byte("boom")); !errors.Is(err, yggr.ErrNotFound) {
		t.Errorf("Get(boom): %v, want not found (it panicked before its put)", err)
	}
	wantMetrics(t, srv,
		`yggr_http_batch_ops_total{code="500",op="put"} 1`,
		`yggr_http_batch_ops_total{code="500",op="get"} 1`,
	)
	if n := strings.Count(logs.String(), "panic serving a batch operation"); n != 2 {
		t.Errorf("%d panics logged, want 2:\n%s", n, logs.String())
	}
}

// A batch that cannot be read fails whole, with one error response.
func TestBatchBadRequest(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{MaxBodyBytes: 64 << 10})
	many := make([]BatchOp, MaxBatchOps+1)
	for i := range many {
		many[i] = BatchOp{Op: OpGet, Key: []byte("k")}
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not JSON", "puts", 400, CodeInvalid},
		{"trailing data", `{"ops":[]} {}`, 400, CodeInvalid},
		{"unknown field", `{"ops":[],"atomic":true}`, 400, CodeInvalid},
		{"unknown op field", `{"ops":[{"op":"put","key":"aw==","ttl":3}]}`, 400, CodeInvalid},
		{"key not base64", `{"ops":[{"op":"put","key":"!!"}]}`, 400, CodeInvalid},
		{"ops not a list", `{"ops":{}}`, 400, CodeInvalid},
		{"too many ops", mustJSON(t, BatchRequest{Ops: many}), 413, CodeTooLarge},
		{"body too large", `{"ops":[{"op":"put","key":"aw==","value":"` + strings.Repeat("A", 64<<10) + `"}]}`, 413, CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, srv, "POST", "/v1/batch", strings.NewReader(tc.body), nil)
			if r.status != tc.status || errCode(t, r) != tc.code {
				t.Errorf("status %d %s, want %d %s; body %q", r.status, errCode(t, r), tc.status, tc.code, r.body)
			}
		})
	}
	// An empty batch is a batch: no results.
	if res := decode[BatchResponse](t, send(t, srv, "POST", "/v1/batch", strings.NewReader(`{"ops":[]}`), nil)); len(res.Results) != 0 {
		t.Errorf("empty batch: %+v", res)
	}
	if r := send(t, srv, "GET", "/v1/batch", nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/batch: status %d", r.status)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The hand-written encoders write what encoding/json writes.
func TestBatchEncodersMatchJSON(t *testing.T) {
	bytesGen := rapid.OneOf(rapid.Just([]byte(nil)), rapid.SliceOfN(rapid.Byte(), 0, 40))
	str := rapid.OneOf(rapid.SampledFrom([]string{"", OpPut, OpGet, OpDelete, "lease", CodeNotFound}), rapid.String())
	u64 := rapid.OneOf(rapid.Just(uint64(0)), rapid.Uint64())
	rapid.Check(t, func(t *rapid.T) {
		op := BatchOp{
			Op: str.Draw(t, "op"), Key: bytesGen.Draw(t, "key"), Value: bytesGen.Draw(t, "value"),
			Lease: yggr.LeaseID(u64.Draw(t, "lease")), Consistency: str.Draw(t, "consistency"), MinIndex: u64.Draw(t, "min"),
		}
		want, _ := json.Marshal(op)
		if got := appendBatchOp(nil, op); !bytes.Equal(got, want) {
			t.Fatalf("appendBatchOp = %s, json.Marshal = %s", got, want)
		}
		results := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) BatchResult {
			r := BatchResult{
				Index: u64.Draw(t, "index"), Deleted: rapid.Bool().Draw(t, "deleted"), Value: bytesGen.Draw(t, "value"),
				ModIndex: u64.Draw(t, "mod"), CreateIndex: u64.Draw(t, "create"), Version: u64.Draw(t, "version"),
			}
			if rapid.Bool().Draw(t, "failed") {
				r.Error = &BatchError{Status: rapid.IntRange(-1, 999).Draw(t, "status"), Code: str.Draw(t, "code"), Message: str.Draw(t, "message")}
			}
			return r
		}), 0, 5).Draw(t, "results")
		want, _ = json.Marshal(BatchResponse{Results: results})
		if results == nil {
			want = []byte(`{"results":[]}`) // the handler always makes the slice
		}
		got := appendBatchResponse(nil, results)
		if !bytes.Equal(got, append(want, '\n')) {
			t.Fatalf("appendBatchResponse = %s, json.Marshal = %s", got, want)
		}
		if len(got) > batchResponseSize(results) {
			t.Fatalf("batchResponseSize %d < %d", batchResponseSize(results), len(got))
		}
	})
}

// decodeBatch never panics, and what it accepts encodes back to JSON that
// decodes to the same operations.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"ops":[{"op":"put","key":"YQ==","value":"MQ==","lease":7},{"op":"get","key":"YQ==","consistency":"stale","min_index":3},{"op":"delete","key":"YQ=="}]}`))
	f.Add([]byte(`{"ops":[]}`))
	f.Add([]byte(`{"ops":null}`))
	f.Add([]byte(`{"ops":[{}]} x`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := decodeBatch(bytes.NewReader(body))
		if err != nil {
			if !strings.Contains(err.Error(), "batch") {
				t.Fatalf("error %q does not say what was wrong", err)
			}
			return
		}
		var re []byte
		re = append(re, `{"ops":[`...)
		for i, op := range ops {
			if i > 0 {
				re = append(re, ',')
			}
			re = appendBatchOp(re, op)
		}
		re = append(re, "]}"...)
		again, err := decodeBatch(bytes.NewReader(re))
		if err != nil {
			t.Fatalf("re-encoding %s does not decode: %v", re, err)
		}
		if fmt.Sprint(normalize(ops)) != fmt.Sprint(normalize(again)) {
			t.Fatalf("round trip changed the ops: %+v → %+v", ops, again)
		}
	})
}

// normalize makes empty and nil byte slices alike (omitempty drops both).
func normalize(ops []BatchOp) []BatchOp {
	out := make([]BatchOp, len(ops))
	for i, op := range ops {
		if len(op.Value) == 0 {
			op.Value = nil
		}
		out[i] = op
	}
	return out
}

// wantMetrics fails t unless srv's /metrics has every one of lines.
func wantMetrics(t *testing.T, srv *httptest.Server, lines ...string) {
	t.Helper()
	metrics := string(send(t, srv, "GET", "/metrics", nil, nil).body)
	for _, line := range lines {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}
