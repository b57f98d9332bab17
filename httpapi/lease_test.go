package httpapi

import (
	"bytes"
	"fmt"
	"github.com/yggrdb/yggr/internal/testutil"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"
)

// grantHTTP grants a lease of ttl through POST /v1/leases.
func grantHTTP(t *testing.T, srv *httptest.Server, ttl time.Duration) yggr.LeaseID {
	t.Helper()
	body := fmt.Sprintf(`{"ttl_ms":%d}`, ttl.Milliseconds())
	got := decode[LeaseResponse](t, send(t, srv, "POST", "/v1/leases", strings.NewReader(body), nil))
	if got.ID == 0 || got.TTLMillis != ttl.Milliseconds() {
		t.Fatalf("POST /v1/leases %s = %+v, want a lease ID and ttl_ms %d", body, got, ttl.Milliseconds())
	}
	return got.ID
}

// wantError checks that r is an error response with status and code.
func wantError(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %q)", what, r.status, status, r.body)
		return
	}
	if got := errCode(t, r); got != code {
		t.Errorf("%s: code %q, want %q (body %q)", what, got, code, r.body)
	}
}

// txnPutLease is the body of a transaction that puts key=value attached
// to lease id.
func txnPutLease(key, value string, id yggr.LeaseID) string {
	return string(jsonBody(TxnRequest{Success: []TxnOp{{Op: OpPut, Key: []byte(key), Value: []byte(value), Lease: id}}}))
}

// TestLeaseEndpoints walks a lease through its life over HTTP: grant,
// attach by PUT and by a transaction, time-to-live with and without keys,
// list, keepalive, revoke (which deletes the keys at one revision), and
// every operation on the revoked lease.
func TestLeaseEndpoints(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	const ttl = time.Minute
	id := grantHTTP(t, srv, ttl)
	other := grantHTTP(t, srv, 2*ttl)

	put := decode[PutResponse](t, send(t, srv, "PUT", keyPath([]byte("svc/a"))+fmt.Sprintf("?lease=%d", id), strings.NewReader("A"), nil))
	if put.Index <= uint64(other) {
		t.Errorf("PUT with lease: index %d, want > %d", put.Index, other)
	}
	txn := decode[TxnResponse](t, send(t, srv, "POST", "/v1/txn", strings.NewReader(txnPutLease("svc/b", "B", id)), nil))
	if !txn.Succeeded {
		t.Errorf("txn put with lease: %+v, want succeeded", txn)
	}
	decode[PutResponse](t, send(t, srv, "PUT", keyPath([]byte("plain"))+"?lease=0", strings.NewReader("P"), nil))

	ttlResp := decode[TimeToLiveResponse](t, send(t, srv, "GET", fmt.Sprintf("/v1/leases/%d?keys=true", id), nil, nil))
	if ttlResp.ID != id || ttlResp.TTLMillis != ttl.Milliseconds() || ttlResp.RemainingMillis <= 0 || ttlResp.RemainingMillis > ttl.Milliseconds() {
		t.Errorf("GET lease: %+v, want ID %d, ttl_ms %d and 0 < remaining_ms ≤ ttl_ms", ttlResp, id, ttl.Milliseconds())
	}
	if diff := cmp.Diff([][]byte{[]byte("svc/a"), []byte("svc/b")}, ttlResp.Keys); diff != "" {
		t.Errorf("GET lease keys (-want +got):\n%s", diff)
	}
	for _, q := range []string{"", "?keys=false"} {
		r := send(t, srv, "GET", fmt.Sprintf("/v1/leases/%d%s", id, q), nil, nil)
		if got := decode[TimeToLiveResponse](t, r); got.Keys != nil || bytes.Contains(r.body, []byte(`"keys"`)) {
			t.Errorf("GET lease%s: %s, want no keys", q, r.body)
		}
	}
	if got := decode[TimeToLiveResponse](t, send(t, srv, "GET", fmt.Sprintf("/v1/leases/%d?keys", other), nil, nil)); len(got.Keys) != 0 {
		t.Errorf("GET lease without keys ?keys: %+v, want no keys", got)
	}

	list := decode[LeasesResponse](t, send(t, srv, "GET", "/v1/leases", nil, nil))
	want := LeasesResponse{Leases: []LeaseResponse{{ID: id, TTLMillis: ttl.Milliseconds()}, {ID: other, TTLMillis: 2 * ttl.Milliseconds()}}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("GET /v1/leases (-want +got):\n%s", diff)
	}
	if stale := decode[LeasesResponse](t, send(t, srv, "GET", "/v1/leases?consistency=stale&min_index="+fmt.Sprint(txn.Index), nil, nil)); len(stale.Leases) != 2 {
		t.Errorf("GET /v1/leases stale: %+v, want 2 leases", stale)
	}

	ka := decode[LeaseResponse](t, send(t, srv, "POST", fmt.Sprintf("/v1/leases/%d/keepalive", id), nil, nil))
	if ka != (LeaseResponse{ID: id, TTLMillis: ttl.Milliseconds()}) {
		t.Errorf("keepalive: %+v, want ID %d ttl_ms %d", ka, id, ttl.Milliseconds())
	}

	if r := send(t, srv, "DELETE", fmt.Sprintf("/v1/leases/%d", id), nil, nil); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("DELETE lease: %d %q, want 200 {}", r.status, r.body)
	}
	for _, k := range []string{"svc/a", "svc/b"} {
		wantError(t, "GET "+k+" after revoke", send(t, srv, "GET", keyPath([]byte(k)), nil, nil), 404, CodeNotFound)
	}
	if r := send(t, srv, "GET", keyPath([]byte("plain")), nil, nil); r.status != http.StatusOK {
		t.Errorf("GET plain (no lease) after revoke: %d %q, want 200", r.status, r.body)
	}

	// Everything on the revoked lease is 404 lease_not_found, and a put
	// attaching to it writes nothing.
	gone := []struct {
		what, method, path, body string
	}{
		{"put", "PUT", keyPath([]byte("svc/c")) + fmt.Sprintf("?lease=%d", id), "C"},
		{"txn put", "POST", "/v1/txn", txnPutLease("svc/c", "C", id)},
		{"keepalive", "POST", fmt.Sprintf("/v1/leases/%d/keepalive", id), ""},
		{"time to live", "GET", fmt.Sprintf("/v1/leases/%d", id), ""},
		{"revoke", "DELETE", fmt.Sprintf("/v1/leases/%d", id), ""},
	}
	for _, g := range gone {
		wantError(t, g.what+" on a revoked lease", send(t, srv, g.method, g.path, strings.NewReader(g.body), nil), 404, CodeLeaseNotFound)
	}
	wantError(t, "GET svc/c", send(t, srv, "GET", keyPath([]byte("svc/c")), nil, nil), 404, CodeNotFound)
	list = decode[LeasesResponse](t, send(t, srv, "GET", "/v1/leases", nil, nil))
	if diff := cmp.Diff(LeasesResponse{Leases: []LeaseResponse{{ID: other, TTLMillis: 2 * ttl.Milliseconds()}}}, list); diff != "" {
		t.Errorf("GET /v1/leases after revoke (-want +got):\n%s", diff)
	}
	decode[struct{}](t, send(t, srv, "DELETE", fmt.Sprintf("/v1/leases/%d", other), nil, nil))
	if r := send(t, srv, "GET", "/v1/leases", nil, nil); strings.TrimSpace(string(r.body)) != `{"leases":[]}` {
		t.Errorf("GET /v1/leases with none: %q, want {\"leases\":[]}", r.body)
	}
}

// TestLeaseExpiryOverHTTP: a key put with a lease nobody keeps alive
// vanishes after the TTL; then a keepalive, a put attaching to the lease
// and its time-to-live get 404 lease_not_found.
func TestLeaseExpiryOverHTTP(t *testing.T) {
	db := openDB(t)
	srv := serve(t, db, Options{})
	const ttl = 200 * time.Millisecond
	// The put must reach the lease within its TTL. One that finds it gone
	// later than a TTL after the grant was sent says only that the test
	// stalled (a loaded machine): again with a new lease, a bounded number
	// of times. Gone sooner, or any other failure, fails the test.
	const attempts = 5
	var id yggr.LeaseID
	for a := 1; a <= attempts; a++ {
		granting := time.Now()
		id = grantHTTP(t, srv, ttl)
		r := send(t, srv, "PUT", keyPath([]byte("eph"))+fmt.Sprintf("?lease=%d", id), strings.NewReader("x"), nil)
		if since := time.Since(granting); a < attempts && r.status == http.StatusNotFound && errCode(t, r) == CodeLeaseNotFound && since >= ttl {
			t.Logf("attempt %d: the put found the lease gone %v after the grant was sent, over its TTL %v; again", a, since, ttl)
			continue
		}
		decode[PutResponse](t, r)
		break
	}
	testutil.WaitFor(t, "the leased key to expire", func() bool {
		return send(t, srv, "GET", keyPath([]byte("eph")), nil, nil).status == http.StatusNotFound
	})
	wantError(t, "keepalive after expiry", send(t, srv, "POST", fmt.Sprintf("/v1/leases/%d/keepalive", id), nil, nil), 404, CodeLeaseNotFound)
	wantError(t, "put after expiry", send(t, srv, "PUT", keyPath([]byte("eph"))+fmt.Sprintf("?lease=%d", id), strings.NewReader("x"), nil), 404, CodeLeaseNotFound)
	wantError(t, "ttl after expiry", send(t, srv, "GET", fmt.Sprintf("/v1/leases/%d", id), nil, nil), 404, CodeLeaseNotFound)
	wantError(t, "key after expiry", send(t, srv, "GET", keyPath([]byte("eph")), nil, nil), 404, CodeNotFound)
}

// TestLeaseBadInput: every malformed lease request gets its 4xx and code,
// and changes nothing.
func TestLeaseBadInput(t *testing.T) {
	db := openDB(t)
	const token = "s3cret"
	srv := serve(t, db, Options{Token: token})
	auth := http.Header{"Authorization": {"Bearer " + token}}
	maxMs := yggr.MaxLeaseTTL.Milliseconds()
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		wantStatus               int
		wantCode                 string
	}{
		{"grant ttl 0", "POST", "/v1/leases", `{"ttl_ms":0}`, auth, 400, CodeLeaseTTL},
		{"grant ttl negative", "POST", "/v1/leases", `{"ttl_ms":-5}`, auth, 400, CodeLeaseTTL},
		{"grant ttl too large", "POST", "/v1/leases", fmt.Sprintf(`{"ttl_ms":%d}`, maxMs+1), auth, 400, CodeLeaseTTL},
		{"grant ttl beyond int64", "POST", "/v1/leases", `{"ttl_ms":99999999999999999999999}`, auth, 400, CodeLeaseTTL},
		{"grant ttl huge negative", "POST", "/v1/leases", `{"ttl_ms":-99999999999999999999999}`, auth, 400, CodeLeaseTTL},
		{"grant ttl missing", "POST", "/v1/leases", `{}`, auth, 400, CodeLeaseTTL},
		{"grant ttl fraction", "POST", "/v1/leases", `{"ttl_ms":1.5}`, auth, 400, CodeInvalid},
		{"grant ttl exponent", "POST", "/v1/leases", `{"ttl_ms":1e3}`, auth, 400, CodeInvalid},
		{"grant ttl string", "POST", "/v1/leases", `{"ttl_ms":"10s"}`, auth, 400, CodeInvalid},
		{"grant ttl numeric string", "POST", "/v1/leases", `{"ttl_ms":"10000"}`, auth, 400, CodeInvalid},
		{"grant ttl object", "POST", "/v1/leases", `{"ttl_ms":{}}`, auth, 400, CodeInvalid},
		{"grant ttl plus sign", "POST", "/v1/leases", `{"ttl_ms":+5}`, auth, 400, CodeInvalid},
		{"grant ttl null", "POST", "/v1/leases", `{"ttl_ms":null}`, auth, 400, CodeLeaseTTL},
		{"grant unknown field", "POST", "/v1/leases", `{"ttl_ms":1000,"ttl":"1s"}`, auth, 400, CodeInvalid},
		{"grant trailing data", "POST", "/v1/leases", `{"ttl_ms":1000} {}`, auth, 400, CodeInvalid},
		{"grant empty body", "POST", "/v1/leases", ``, auth, 400, CodeInvalid},
		{"grant not an object", "POST", "/v1/leases", `[1000]`, auth, 400, CodeInvalid},
		{"grant body too large", "POST", "/v1/leases", `{"ttl_ms":1000` + strings.Repeat(" ", 70<<10) + `}`, auth, 413, CodeTooLarge},
		{"grant without token", "POST", "/v1/leases", `{"ttl_ms":1000}`, nil, 401, CodeUnauthorized},
		{"keepalive id not a number", "POST", "/v1/leases/abc/keepalive", ``, auth, 400, CodeInvalid},
		{"keepalive id negative", "POST", "/v1/leases/-1/keepalive", ``, auth, 400, CodeInvalid},
		{"keepalive id signed", "POST", "/v1/leases/+5/keepalive", ``, auth, 400, CodeInvalid},
		{"keepalive id beyond uint64", "POST", "/v1/leases/18446744073709551616/keepalive", ``, auth, 400, CodeInvalid},
		{"keepalive unknown id", "POST", "/v1/leases/999999/keepalive", ``, auth, 404, CodeLeaseNotFound},
		{"keepalive id 0", "POST", "/v1/leases/0/keepalive", ``, auth, 404, CodeLeaseNotFound},
		{"keepalive wrong method", "GET", "/v1/leases/1/keepalive", ``, auth, 405, CodeMethodNotAllowed},
		{"revoke id not a number", "DELETE", "/v1/leases/1x", ``, auth, 400, CodeInvalid},
		{"revoke unknown id", "DELETE", "/v1/leases/18446744073709551615", ``, auth, 404, CodeLeaseNotFound},
		{"revoke id 0", "DELETE", "/v1/leases/0", ``, auth, 404, CodeLeaseNotFound},
		{"ttl id not a number", "GET", "/v1/leases/0x10", ``, auth, 400, CodeInvalid},
		{"ttl unknown id", "GET", "/v1/leases/424242", ``, auth, 404, CodeLeaseNotFound},
		{"ttl bad keys", "GET", "/v1/leases/1?keys=maybe", ``, auth, 400, CodeInvalid},
		{"ttl unknown param", "GET", "/v1/leases/1?bogus=1", ``, auth, 400, CodeInvalid},
		{"ttl repeated param", "GET", "/v1/leases/1?keys&keys", ``, auth, 400, CodeInvalid},
		{"list unknown param", "GET", "/v1/leases?keys=true", ``, auth, 400, CodeInvalid},
		{"list bad consistency", "GET", "/v1/leases?consistency=strong", ``, auth, 400, CodeInvalid},
		{"list lease reads off", "GET", "/v1/leases?consistency=lease", ``, auth, 400, CodeLeaseDisabled},
		{"list without token", "GET", "/v1/leases", ``, nil, 401, CodeUnauthorized},
		{"leases wrong method", "PUT", "/v1/leases", ``, auth, 405, CodeMethodNotAllowed},
		{"put lease not a number", "PUT", "/v1/kv/k?lease=abc", "v", auth, 400, CodeInvalid},
		{"put lease empty", "PUT", "/v1/kv/k?lease=", "v", auth, 400, CodeInvalid},
		{"put lease negative", "PUT", "/v1/kv/k?lease=-3", "v", auth, 400, CodeInvalid},
		{"put lease repeated", "PUT", "/v1/kv/k?lease=1&lease=2", "v", auth, 400, CodeInvalid},
		{"put unknown param", "PUT", "/v1/kv/k?ttl=10s", "v", auth, 400, CodeInvalid},
		{"put unknown lease", "PUT", "/v1/kv/k?lease=777777", "v", auth, 404, CodeLeaseNotFound},
		{"txn unknown lease", "POST", "/v1/txn", txnPutLease("k", "v", 777777), auth, 404, CodeLeaseNotFound},
		{"txn lease on delete", "POST", "/v1/txn", `{"success":[{"op":"delete","key":"aw==","lease":1}]}`, auth, 400, CodeInvalid},
		{"txn lease negative", "POST", "/v1/txn", `{"success":[{"op":"put","key":"aw==","lease":-1}]}`, auth, 400, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.name, send(t, srv, tt.method, tt.path, strings.NewReader(tt.body), tt.header), tt.wantStatus, tt.wantCode)
		})
	}
	// Nothing was written: no key, no lease.
	wantError(t, "GET k", send(t, srv, "GET", "/v1/kv/k", nil, auth), 404, CodeNotFound)
	if r := send(t, srv, "GET", "/v1/leases", nil, auth); strings.TrimSpace(string(r.body)) != `{"leases":[]}` {
		t.Errorf("GET /v1/leases after bad requests: %q, want none", r.body)
	}
}

// TestLeaseEndpointsOnFollower: a follower serves every lease operation
// (the database forwards them to the leader), and a lease granted through
// it expires on the leader's clock once nobody keeps it alive.
func TestLeaseEndpointsOnFollower(t *testing.T) {
	nodes := startCluster(t, 3)
	var follower *node
	testutil.WaitFor(t, "a leader known to every node", func() bool {
		follower = nil
		leader := ""
		for _, n := range nodes {
			st := n.db.Status()
			if st.Leader == "" || (leader != "" && st.Leader != leader) {
				return false
			}
			leader = st.Leader
			if st.ID != leader {
				follower = n
			}
		}
		return follower != nil
	})
	srv := follower.srv
	send := func(method, path, body string) reply {
		t.Helper()
		return send(t, srv, method, path, strings.NewReader(body), nil)
	}
	var g LeaseResponse
	if r := send("POST", "/v1/leases", `{"ttl_ms":60000}`); r.status != 200 {
		t.Fatalf("grant on follower %s: %d %q", follower.id, r.status, r.body)
	} else {
		g = decode[LeaseResponse](t, r)
	}
	decode[PutResponse](t, send("PUT", fmt.Sprintf("/v1/kv/f?lease=%d", g.ID), "v"))
	if ka := decode[LeaseResponse](t, send("POST", fmt.Sprintf("/v1/leases/%d/keepalive", g.ID), "")); ka.TTLMillis != 60000 {
		t.Errorf("keepalive on follower: %+v, want ttl_ms 60000", ka)
	}
	info := decode[TimeToLiveResponse](t, send("GET", fmt.Sprintf("/v1/leases/%d?keys=1", g.ID), ""))
	if info.RemainingMillis <= 0 || len(info.Keys) != 1 || string(info.Keys[0]) != "f" {
		t.Errorf("time to live on follower: %+v, want time left and key f", info)
	}
	if l := decode[LeasesResponse](t, send("GET", "/v1/leases", "")); len(l.Leases) != 1 || l.Leases[0].ID != g.ID {
		t.Errorf("list on follower: %+v, want lease %d", l, g.ID)
	}
	decode[struct{}](t, send("DELETE", fmt.Sprintf("/v1/leases/%d", g.ID), ""))
	wantError(t, "keepalive on follower after revoke", send("POST", fmt.Sprintf("/v1/leases/%d/keepalive", g.ID), ""), 404, CodeLeaseNotFound)
	wantError(t, "bad TTL on follower", send("POST", "/v1/leases", `{"ttl_ms":0}`), 400, CodeLeaseTTL)

	short := decode[LeaseResponse](t, send("POST", "/v1/leases", `{"ttl_ms":300}`))
	decode[PutResponse](t, send("PUT", fmt.Sprintf("/v1/kv/g?lease=%d", short.ID), "v"))
	testutil.WaitFor(t, "the follower's leased key to expire", func() bool {
		return send("GET", "/v1/kv/g", "").status == http.StatusNotFound
	})
	wantError(t, "keepalive on follower after expiry", send("POST", fmt.Sprintf("/v1/leases/%d/keepalive", short.ID), ""), 404, CodeLeaseNotFound)
}

// startCluster starts n nodes over loopback QUIC with their HTTP APIs and
// closes them when the test ends.
func startCluster(t *testing.T, n int) []*node {
	t.Helper()
	var ids, peers []string
	addrs := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		ids = append(ids, id)
		addrs[id] = freeUDPAddr(t)
		peers = append(peers, id+"="+addrs[id])
	}
	var nodes []*node
	for _, id := range ids {
		nodes = append(nodes, startNode(t, id, addrs[id], peers))
	}
	t.Cleanup(func() {
		done := make(chan struct{}, len(nodes))
		for _, n := range nodes {
			// Closes one node; ends when it is closed.
			go func() { n.close(); done <- struct{}{} }()
		}
		for range nodes {
			<-done
		}
	})
	return nodes
}
