package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openDB opens a single-node database in a temp dir, waits until it leads,
// and closes it when the test ends.
func openDB(t *testing.T, opts ...yggr.Option) *yggr.DB {
	t.Helper()
	db, err := yggr.Open(t.TempDir(), nil, append([]yggr.Option{yggr.WithUnsafeNoSync()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := db.WaitLeader(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return db
}

// serve runs the handler of db on a loopback test server.
func serve(t *testing.T, db *yggr.DB, opts Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(db, opts))
	t.Cleanup(srv.Close)
	return srv
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request; path is sent as is (already escaped).
func send(t *testing.T, srv *httptest.Server, method, path string, body io.Reader, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// errCode decodes an error body, failing the test if it is not one.
func errCode(t *testing.T, r reply) string {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("body %q is not a JSON error (%v)", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	if strings.Contains(string(r.body), "goroutine ") {
		t.Errorf("error body leaks a stack trace: %q", r.body)
	}
	return eb.Error.Code
}

func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %q", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
	return v
}

// testKeys are keys that stress the path encoding.
var testKeys = []string{
	"simple", "a/b", "a//b/../c", "/leading", "trailing/", "with space", "plus+sign", "%41", ".", "..",
	"?q=1&r#frag", "\x00\xff\x01binary\n", "ünïcode", strings.Repeat("k", 100),
}

func TestKVRoundTripAwkwardKeys(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	var lastIndex uint64
	for _, k := range testKeys {
		value := []byte("value of " + k)
		put := decode[PutResponse](t, send(t, srv, "PUT", keyPath([]byte(k)), bytes.NewReader(value), nil))
		if put.Index <= lastIndex {
			t.Errorf("PUT %q: index %d, want > %d", k, put.Index, lastIndex)
		}
		lastIndex = put.Index
		got := send(t, srv, "GET", keyPath([]byte(k)), nil, nil)
		if got.status != http.StatusOK || !bytes.Equal(got.body, value) {
			t.Fatalf("GET %q = %d %q, want 200 %q", k, got.status, got.body, value)
		}
		if h := got.header.Get(HeaderIndex); h != fmt.Sprint(put.Index) {
			t.Errorf("GET %q: %s = %q, want %d", k, HeaderIndex, h, put.Index)
		}
		if ct := got.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("GET %q: Content-Type = %q", k, ct)
		}
		for _, c := range []string{"linearizable", "stale"} {
			got := send(t, srv, "GET", keyPath([]byte(k))+"?consistency="+c+"&min_index="+fmt.Sprint(put.Index), nil, nil)
			if got.status != http.StatusOK || !bytes.Equal(got.body, value) {
				t.Fatalf("GET %q at %s = %d %q, want 200 %q", k, c, got.status, got.body, value)
			}
		}
	}
	// A literal slash in the path is part of the key.
	if got := send(t, srv, "GET", "/v1/kv/a/b", nil, nil); string(got.body) != "value of a/b" {
		t.Errorf("GET /v1/kv/a/b = %d %q, want the value of key a/b", got.status, got.body)
	}
	// Every key comes back byte for byte from a scan.
	scan := decode[ScanResponse](t, send(t, srv, "GET", "/v1/kv?limit=100", nil, nil))
	var gotKeys []string
	for _, it := range scan.Items {
		gotKeys = append(gotKeys, string(it.Key))
		if want := "value of " + string(it.Key); string(it.Value) != want {
			t.Errorf("scan: %q = %q, want %q", it.Key, it.Value, want)
		}
	}
	if !scan.More && len(gotKeys) != len(testKeys) {
		t.Errorf("scan: %d keys, want %d: %q", len(gotKeys), len(testKeys), gotKeys)
	}
	for _, k := range testKeys {
		del := decode[DeleteResponse](t, send(t, srv, "DELETE", keyPath([]byte(k)), nil, nil))
		if !del.Deleted || del.Index <= lastIndex {
			t.Errorf("DELETE %q = %+v, want deleted at an index > %d", k, del, lastIndex)
		}
		lastIndex = del.Index
		got := send(t, srv, "GET", keyPath([]byte(k)), nil, nil)
		if got.status != http.StatusNotFound || errCode(t, got) != CodeNotFound {
			t.Errorf("GET %q after delete = %d %q, want 404 not_found", k, got.status, got.body)
		}
		if del := decode[DeleteResponse](t, send(t, srv, "DELETE", keyPath([]byte(k)), nil, nil)); del.Deleted {
			t.Errorf("second DELETE %q reports deleted", k)
		}
	}
}

func TestBadInput(t *testing.T) {
	db := openDB(t)
	const token = "s3cret"
	srv := serve(t, db, Options{Token: token, Limits: yggr.Limits{MaxKeyBytes: 16, MaxValueBytes: 64}, MaxBodyBytes: 1024})
	auth := http.Header{"Authorization": {"Bearer " + token}}
	big := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name         string
		method, path string
		body         string
		header       http.Header
		chunked      bool // send the body without a Content-Length
		wantStatus   int
		wantCode     string
	}{
		{"malformed query escape", "GET", "/v1/kv?prefix=%ZZ", "", auth, false, 400, CodeInvalid},
		{"unknown consistency", "GET", "/v1/kv/k?consistency=bogus", "", auth, false, 400, CodeInvalid},
		{"unknown scan consistency", "GET", "/v1/kv?consistency=strong", "", auth, false, 400, CodeInvalid},
		{"lease not enabled", "GET", "/v1/kv/k?consistency=lease", "", auth, false, 400, CodeLeaseDisabled},
		{"negative limit", "GET", "/v1/kv?limit=-1", "", auth, false, 400, CodeInvalid},
		{"non-numeric limit", "GET", "/v1/kv?limit=ten", "", auth, false, 400, CodeInvalid},
		{"bad min_index", "GET", "/v1/kv/k?min_index=-3", "", auth, false, 400, CodeInvalid},
		{"unknown parameter", "GET", "/v1/kv/k?consistncy=stale", "", auth, false, 400, CodeInvalid},
		{"repeated parameter", "GET", "/v1/kv?limit=1&limit=2", "", auth, false, 400, CodeInvalid},
		{"empty key put", "PUT", "/v1/kv/", "v", auth, false, 400, CodeInvalid},
		{"empty key get", "GET", "/v1/kv/", "", auth, false, 400, CodeInvalid},
		{"oversize key", "PUT", "/v1/kv/" + big(17), "v", auth, false, 413, CodeTooLarge},
		{"oversize key get", "GET", "/v1/kv/" + big(17), "", auth, false, 413, CodeTooLarge},
		{"oversize scan prefix", "GET", "/v1/kv?prefix=" + big(17), "", auth, false, 413, CodeTooLarge},
		{"oversize value", "PUT", "/v1/kv/k", big(65), auth, false, 413, CodeTooLarge},
		{"oversize chunked value", "PUT", "/v1/kv/k", big(65), auth, true, 413, CodeTooLarge},
		{"oversize txn body", "POST", "/v1/txn", `{"success":[{"op":"put","key":"a2V5","value":"` + big(1100) + `"}]}`, auth, false, 413, CodeTooLarge},
		{"oversize chunked txn body", "POST", "/v1/txn", `{"success":[{"op":"put","key":"a2V5","value":"` + big(1100) + `"}]}`, auth, true, 413, CodeTooLarge},
		{"oversize txn value", "POST", "/v1/txn", `{"success":[{"op":"put","key":"a2V5","value":"` + big(100) + `"}]}`, auth, false, 413, CodeTooLarge},
		{"malformed txn json", "POST", "/v1/txn", `{"compare":[`, auth, false, 400, CodeInvalid},
		{"txn trailing data", "POST", "/v1/txn", `{} {}`, auth, false, 400, CodeInvalid},
		{"txn unknown field", "POST", "/v1/txn", `{"then":[]}`, auth, false, 400, CodeInvalid},
		{"txn bad base64", "POST", "/v1/txn", `{"success":[{"op":"get","key":"!!"}]}`, auth, false, 400, CodeInvalid},
		{"txn unknown op", "POST", "/v1/txn", `{"success":[{"op":"incr","key":"a2V5"}]}`, auth, false, 400, CodeInvalid},
		{"txn unknown target", "POST", "/v1/txn", `{"compare":[{"target":"bigger","key":"a2V5"}]}`, auth, false, 400, CodeInvalid},
		{"txn empty key", "POST", "/v1/txn", `{"success":[{"op":"delete","key":""}]}`, auth, false, 400, CodeInvalid},
		{"malformed members json", "POST", "/v1/members", `{"id":`, auth, false, 400, CodeInvalid},
		{"invalid member id", "POST", "/v1/members", `{"id":"bad id!","addr":"127.0.0.1:1"}`, auth, false, 400, CodeInvalid},
		{"member without addr", "POST", "/v1/members", `{"id":"n2"}`, auth, false, 400, CodeInvalid},
		{"remove unknown member", "DELETE", "/v1/members/n7", "", auth, false, 409, CodeMembership},
		{"promote unknown member", "POST", "/v1/members/n7/promote", "", auth, false, 409, CodeMembership},
		{"malformed transfer json", "POST", "/v1/leader/transfer", `[]`, auth, false, 400, CodeInvalid},
		{"missing token", "GET", "/v1/status", "", nil, false, 401, CodeUnauthorized},
		{"missing token kv", "PUT", "/v1/kv/k", "v", nil, false, 401, CodeUnauthorized},
		{"missing token bad key", "GET", "/v1/kv/" + big(17), "", nil, false, 401, CodeUnauthorized},
		{"wrong token", "GET", "/v1/status", "", http.Header{"Authorization": {"Bearer s3cre"}}, false, 401, CodeUnauthorized},
		{"wrong scheme", "GET", "/v1/status", "", http.Header{"Authorization": {"Basic " + token}}, false, 401, CodeUnauthorized},
		{"metrics need token", "GET", "/metrics", "", nil, false, 401, CodeUnauthorized},
		{"wrong method kv", "POST", "/v1/kv/k", "", auth, false, 405, CodeMethodNotAllowed},
		{"wrong method txn", "GET", "/v1/txn", "", auth, false, 405, CodeMethodNotAllowed},
		{"wrong method scan", "DELETE", "/v1/kv", "", auth, false, 405, CodeMethodNotAllowed},
		{"unknown route", "GET", "/v2/kv/k", "", auth, false, 404, CodeNotFound},
		{"unknown route root", "GET", "/", "", auth, false, 404, CodeNotFound},
		{"missing key", "GET", "/v1/kv/nope", "", auth, false, 404, CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.chunked {
					body = io.MultiReader(body) // hides the length: sent chunked
				}
			}
			got := send(t, srv, tt.method, tt.path, body, tt.header)
			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", got.status, tt.wantStatus, got.body)
			}
			if code := errCode(t, got); code != tt.wantCode {
				t.Errorf("code = %q, want %q", code, tt.wantCode)
			}
			switch tt.wantStatus {
			case 401:
				if got.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			case 405:
				if got.header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
		})
	}

	t.Run("allow header", func(t *testing.T) {
		got := send(t, srv, "POST", "/v1/kv/k", nil, auth)
		allow := got.header.Get("Allow")
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			if !strings.Contains(allow, m) {
				t.Errorf("Allow = %q, want it to list %s", allow, m)
			}
		}
	})
	t.Run("probes need no token", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if got := send(t, srv, "GET", p, nil, nil); got.status != 200 {
				t.Errorf("GET %s without token = %d %q, want 200", p, got.status, got.body)
			}
		}
	})
	t.Run("right token", func(t *testing.T) {
		if got := send(t, srv, "PUT", "/v1/kv/k", strings.NewReader(big(64)), auth); got.status != 200 {
			t.Errorf("PUT with token and a value at the limit = %d %q, want 200", got.status, got.body)
		}
	})
}

// TestMalformedPathEscape covers a key whose percent-encoding is broken:
// net/http rejects it before the handler (400), and a request that reaches
// the handler anyway gets the JSON 400.
func TestMalformedPathEscape(t *testing.T) {
	db := openDB(t)
	h := NewHandler(db, Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/kv/a%%ZZb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("raw GET /v1/kv/a%%ZZb: status %d, want 400", resp.StatusCode)
	}

	req := httptest.NewRequest("GET", "/v1/kv/x", nil)
	req.URL.RawPath = "/v1/kv/a%ZZb"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	got := reply{rec.Code, rec.Header(), rec.Body.Bytes()}
	if got.status != http.StatusBadRequest || errCode(t, got) != CodeInvalid {
		t.Errorf("handler with RawPath a%%ZZb: %d %q, want 400 invalid", got.status, got.body)
	}
}

func TestScan(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	for _, k := range []string{"a", "b/1", "b/2", "b/3", "b0", "c", "\xff", "\xff\xff"} {
		if err := db.Put(ctx, []byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(r ScanResponse) []string {
		ks := []string{}
		for _, it := range r.Items {
			ks = append(ks, string(it.Key))
		}
		return ks
	}
	tests := []struct {
		query    string
		want     []string
		wantMore bool
	}{
		{"", []string{"a", "b/1", "b/2", "b/3", "b0", "c", "\xff", "\xff\xff"}, false},
		{"?prefix=b%2F", []string{"b/1", "b/2", "b/3"}, false},
		{"?prefix=b/&limit=2", []string{"b/1", "b/2"}, true},
		{"?prefix=b/&start=b/2", []string{"b/2", "b/3"}, false},
		{"?prefix=b/&end=b/3", []string{"b/1", "b/2"}, false},
		{"?start=b0&end=c", []string{"b0"}, false},
		{"?start=c&end=b", []string{}, false},
		{"?start=b&limit=1&consistency=stale", []string{"b/1"}, true},
		{"?prefix=%FF", []string{"\xff", "\xff\xff"}, false},
		{"?prefix=zzz", []string{}, false},
		{"?limit=0&consistency=linearizable", []string{"a", "b/1", "b/2", "b/3", "b0", "c", "\xff", "\xff\xff"}, false},
	}
	for _, tt := range tests {
		got := decode[ScanResponse](t, send(t, srv, "GET", "/v1/kv"+tt.query, nil, nil))
		if diff := cmp.Diff(tt.want, keys(got)); diff != "" || got.More != tt.wantMore {
			t.Errorf("scan %s: more=%v (want %v), keys (-want +got):\n%s", tt.query, got.More, tt.wantMore, diff)
		}
	}
	// Items carry their history.
	got := decode[ScanResponse](t, send(t, srv, "GET", "/v1/kv?prefix=a", nil, nil))
	it, err := db.GetItem(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Key: []byte("a"), Value: []byte("va"), ModIndex: it.ModIndex, CreateIndex: it.CreateIndex, Version: 1}}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("scan items (-want +got):\n%s", diff)
	}
}

func TestTxn(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	post := func(req TxnRequest) TxnResponse {
		t.Helper()
		b, _ := json.Marshal(req)
		return decode[TxnResponse](t, send(t, srv, "POST", "/v1/txn", bytes.NewReader(b), nil))
	}
	k := []byte("counter")
	// Create if missing.
	create := post(TxnRequest{
		Compare: []TxnCompare{{Key: k, Target: TargetMissing}},
		Success: []TxnOp{{Op: OpPut, Key: k, Value: []byte("1")}, {Op: OpGet, Key: k}},
		Failure: []TxnOp{{Op: OpGet, Key: k}},
	})
	wantItem := &Item{Key: k, Value: []byte("1"), ModIndex: create.Index, CreateIndex: create.Index, Version: 1}
	want := TxnResponse{Succeeded: true, Index: create.Index, Results: []TxnResult{{Op: OpPut}, {Op: OpGet, Found: true, Item: wantItem}}}
	if diff := cmp.Diff(want, create); diff != "" {
		t.Errorf("create txn (-want +got):\n%s", diff)
	}
	// The same compare now fails and runs the failure branch.
	again := post(TxnRequest{
		Compare: []TxnCompare{{Key: k, Target: TargetMissing}},
		Success: []TxnOp{{Op: OpPut, Key: k, Value: []byte("1")}},
		Failure: []TxnOp{{Op: OpGet, Key: k}},
	})
	want = TxnResponse{Succeeded: false, Index: again.Index, Results: []TxnResult{{Op: OpGet, Found: true, Item: wantItem}}}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("failed-compare txn (-want +got):\n%s", diff)
	}
	// Compare-and-swap on value and on mod_index; each success moves the
	// mod index.
	modIndex := create.Index
	for _, c := range []TxnCompare{
		{Key: k, Target: TargetModIndex},
		{Key: k, Target: TargetValue, Value: []byte("1")},
		{Key: k, Target: TargetModIndex},
		{Key: k, Target: TargetExists},
	} {
		if c.Target == TargetModIndex {
			c.ModIndex = modIndex
		}
		res := post(TxnRequest{Compare: []TxnCompare{c}, Success: []TxnOp{{Op: OpPut, Key: k, Value: []byte("1")}}})
		if !res.Succeeded || len(res.Results) != 1 || !res.Results[0].Found {
			t.Errorf("txn with compare %+v = %+v, want succeeded, replacing", c, res)
		}
		modIndex = res.Index
	}
	res := post(TxnRequest{Compare: []TxnCompare{{Key: k, Target: TargetModIndex, ModIndex: create.Index}},
		Success: []TxnOp{{Op: OpDelete, Key: k}}})
	if res.Succeeded {
		t.Errorf("txn with a stale mod_index succeeded: %+v", res)
	}
	res = post(TxnRequest{Compare: []TxnCompare{{Key: k, Target: TargetValue, Value: []byte("2")}},
		Success: []TxnOp{{Op: OpDelete, Key: k}}})
	if res.Succeeded {
		t.Errorf("txn with a wrong value succeeded: %+v", res)
	}
	res = post(TxnRequest{Success: []TxnOp{{Op: OpDelete, Key: k}, {Op: OpGet, Key: k}}})
	want = TxnResponse{Succeeded: true, Index: res.Index, Results: []TxnResult{{Op: OpDelete, Found: true}, {Op: OpGet}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("delete txn (-want +got):\n%s", diff)
	}
}

func TestClusterEndpointsSingleNode(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	st := decode[yggr.Status](t, send(t, srv, "GET", "/v1/status", nil, nil))
	if st.ID != "n1" || st.Leader != "n1" || st.Role != yggr.RoleLeader || st.Applied == 0 {
		t.Errorf("status = %+v, want n1 leading with applied > 0", st)
	}
	// On the wire the typed role is its name.
	if raw := decode[map[string]any](t, send(t, srv, "GET", "/v1/status", nil, nil)); raw["role"] != "leader" {
		t.Errorf(`status JSON role = %#v, want "leader"`, raw["role"])
	}
	ms := decode[MembersResponse](t, send(t, srv, "GET", "/v1/members", nil, nil))
	if diff := cmp.Diff([]yggr.Member{{ID: "n1", Voter: true}}, ms.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	snap := decode[SnapshotResponse](t, send(t, srv, "POST", "/v1/snapshot", nil, nil))
	if snap.Index < st.Applied {
		t.Errorf("snapshot index %d, want ≥ %d", snap.Index, st.Applied)
	}

	// The backup is complete: it restores, at an index covering the put.
	// (Opening the restored directory is the root package's business.)
	bk := send(t, srv, "GET", "/v1/backup", nil, nil)
	if bk.status != http.StatusOK || len(bk.body) == 0 {
		t.Fatalf("backup: %d, %d bytes", bk.status, len(bk.body))
	}
	index, err := yggr.RestoreBackup(t.TempDir(), "n1", bytes.NewReader(bk.body))
	if err != nil || index < st.Applied {
		t.Fatalf("restoring the backup: index %d, %v; want ≥ %d", index, err, st.Applied)
	}
	if bk.header.Get(HeaderIndex) != "" {
		t.Errorf("%s sent as a header; it must be a trailer, sent once the backup is complete", HeaderIndex)
	}

	if got := send(t, srv, "GET", "/healthz", nil, nil); got.status != 200 {
		t.Errorf("healthz = %d", got.status)
	}
	if got := send(t, srv, "GET", "/readyz", nil, nil); got.status != 200 {
		t.Errorf("readyz = %d %q", got.status, got.body)
	}
}

func TestTimeoutIs504(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{RequestTimeout: 50 * time.Millisecond})
	got := send(t, srv, "GET", "/v1/kv/k?consistency=stale&min_index=1000000000", nil, nil)
	if got.status != http.StatusGatewayTimeout || errCode(t, got) != CodeTimeout {
		t.Errorf("read waiting for an index never reached: %d %q, want 504 timeout", got.status, got.body)
	}
}

func TestClosedDBIs503(t *testing.T) {
	db, err := yggr.Open(t.TempDir(), nil, yggr.WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, db, Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	got := send(t, srv, "PUT", "/v1/kv/k", strings.NewReader("v"), nil)
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "1" {
		t.Errorf("PUT on a closed database = %d (Retry-After %q) %q, want 503 with Retry-After 1",
			got.status, got.header.Get("Retry-After"), got.body)
	}
	if code := errCode(t, got); code != CodeClosed {
		t.Errorf("code = %q, want %q", code, CodeClosed)
	}
}

func TestPanicRecovered(t *testing.T) {
	db := openDB(t)
	var logs testutil.LogBuffer
	h := NewHandler(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}).(*handler)
	h.mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom at the handler") })
	srv := httptest.NewServer(h)
	defer srv.Close()
	got := send(t, srv, "GET", "/boom", nil, nil)
	if got.status != http.StatusInternalServerError || errCode(t, got) != CodeInternal {
		t.Errorf("panicking route = %d %q, want 500 internal", got.status, got.body)
	}
	if strings.Contains(string(got.body), "boom") {
		t.Errorf("the panic value leaked to the client: %q", got.body)
	}
	if !strings.Contains(logs.String(), "boom at the handler") {
		t.Errorf("the panic was not logged; log: %q", logs.String())
	}
	// The server still serves.
	if got := send(t, srv, "GET", "/healthz", nil, nil); got.status != 200 {
		t.Errorf("healthz after a panic = %d", got.status)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t)
	srv := serve(t, db, Options{})
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	send(t, srv, "PUT", "/v1/kv/k2", strings.NewReader("v"), nil)
	send(t, srv, "GET", "/v1/kv/missing", nil, nil)
	got := send(t, srv, "GET", "/metrics", nil, nil)
	if got.status != 200 {
		t.Fatalf("metrics: %d %q", got.status, got.body)
	}
	text := string(got.body)
	m := db.Metrics()
	for _, want := range []string{
		"yggr_elections_started_total 1",
		"yggr_peer_handshake_failures_total 0",
		"yggr_elections_won_total 1",
		"yggr_is_leader 1",
		fmt.Sprintf("yggr_term %d", m.Term),
		`yggr_role{role="leader"} 1`,
		"yggr_commit_index ",
		"yggr_applied_index ",
		"yggr_last_index ",
		"yggr_disk_free_bytes ",
		"yggr_disk_reserve_bytes 6.7108864e+07",
		"yggr_apply_lag ",
		"yggr_entries_applied_total ",
		`yggr_propose_seconds_bucket{le="+Inf"}`,
		"yggr_propose_seconds_count ",
		"yggr_fsync_seconds_sum ",
		"yggr_batch_size_bucket",
		`yggr_http_requests_total{code="200",route="PUT /v1/kv/{key}"} 1`,
		`yggr_http_requests_total{code="404",route="GET /v1/kv/{key}"} 1`,
		`yggr_http_request_duration_seconds_count{route="PUT /v1/kv/{key}"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPromBuckets(t *testing.T) {
	h := yggr.Histogram{Bounds: []float64{0.1, 0.2, 0.4, math.Inf(1)}, Counts: []uint64{1, 0, 2, 3}, Count: 6, Sum: 9.5}
	count, sum, buckets := promBuckets(h)
	if count != 6 || sum != 9.5 {
		t.Errorf("count, sum = %d, %v; want 6, 9.5", count, sum)
	}
	if diff := cmp.Diff(map[float64]uint64{0.1: 1, 0.2: 1, 0.4: 3}, buckets); diff != "" {
		t.Errorf("cumulative buckets (-want +got):\n%s", diff)
	}
}
