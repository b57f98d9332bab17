package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/yggrdb/yggr"
)

var fuzzLimits = yggr.Limits{MaxKeyBytes: 16, MaxValueBytes: 64}

func TestDecodeTxn(t *testing.T) {
	tests := []struct {
		body       string
		want       yggr.Txn
		wantStatus int // 0: no error
	}{
		{`{}`, yggr.Txn{}, 0},
		{`{"compare":[{"key":"aw==","target":"value","value":"dg=="}],"success":[{"op":"put","key":"aw==","value":"dw=="}],"failure":[{"op":"get","key":"aw=="}]}`,
			yggr.Txn{
				Compares: []yggr.Compare{{Key: []byte("k"), Target: yggr.CmpValue, Value: []byte("v")}},
				Then:     []yggr.Request{{Op: yggr.OpPut, Key: []byte("k"), Value: []byte("w")}},
				Else:     []yggr.Request{{Op: yggr.OpGet, Key: []byte("k")}},
			}, 0},
		{`{"compare":[{"key":"aw==","target":"mod_index","mod_index":7},{"key":"aw==","target":"exists"},{"key":"aw==","target":"missing"}],"success":[{"op":"delete","key":"aw=="}]}`,
			yggr.Txn{
				Compares: []yggr.Compare{{Key: []byte("k"), Target: yggr.CmpModIndex, ModIndex: 7}, {Key: []byte("k"), Target: yggr.CmpExists}, {Key: []byte("k"), Target: yggr.CmpMissing}},
				Then:     []yggr.Request{{Op: yggr.OpDelete, Key: []byte("k")}},
			}, 0},
		{`{"success":[{"op":"put","key":"aw==","value":"dg==","lease":42}],"failure":[{"op":"put","key":"aw=="}]}`,
			yggr.Txn{
				Then: []yggr.Request{{Op: yggr.OpPut, Key: []byte("k"), Value: []byte("v"), Lease: 42}},
				Else: []yggr.Request{{Op: yggr.OpPut, Key: []byte("k")}},
			}, 0},
		{`{"success":[{"op":"delete","key":"aw==","lease":42}]}`, yggr.Txn{}, 400},
		{`{"failure":[{"op":"get","key":"aw==","lease":1}]}`, yggr.Txn{}, 400},
		{`{"success":[{"op":"put","key":"aw==","lease":-1}]}`, yggr.Txn{}, 400},
		{`{"success":[{"op":"put","key":"aw==","lease":"7"}]}`, yggr.Txn{}, 400},
		{`{"compare":[{"key":"aw==","target":"create_index","create_index":7}]}`,
			yggr.Txn{Compares: []yggr.Compare{{Key: []byte("k"), Target: yggr.CmpCreateIndex, CreateIndex: 7}}}, 0},
		{`{"compare":[{"key":"aw==","target":"mod_index","create_index":7}]}`, yggr.Txn{}, 400},
		{`{"compare":[{"key":"aw==","target":"create_index","mod_index":7}]}`, yggr.Txn{}, 400},
		{``, yggr.Txn{}, 400},
		{`null x`, yggr.Txn{}, 400},
		{`[]`, yggr.Txn{}, 400},
		{`{"compare":[{"key":"aw==","target":"exists","value":"dg=="}]}`, yggr.Txn{}, 400},
		{`{"compare":[{"key":"aw==","target":"exists","mod_index":3}]}`, yggr.Txn{}, 400},
		{`{"success":[{"op":"get","key":"aw==","value":"dg=="}]}`, yggr.Txn{}, 400},
		{`{"success":[{"op":"put"}]}`, yggr.Txn{}, 400},
		{`{"success":[{"op":"put","key":"aw==","value":"dg=="}],"extra":1}`, yggr.Txn{}, 400},
		{`{"compare":[{"key":"aw==","target":"mod_index","mod_index":-1}]}`, yggr.Txn{}, 400},
		{`{"success":[{"op":"put","key":"` + b64(17) + `"}]}`, yggr.Txn{}, 413},
		{`{"success":[{"op":"put","key":"aw==","value":"` + b64(65) + `"}]}`, yggr.Txn{}, 413},
		{`{"compare":[{"key":"aw==","target":"value","value":"` + b64(65) + `"}]}`, yggr.Txn{}, 413},
	}
	for _, tt := range tests {
		got, err := decodeTxn(strings.NewReader(tt.body), fuzzLimits)
		if tt.wantStatus != 0 {
			if status, _ := classify(err); err == nil || status != tt.wantStatus {
				t.Errorf("decodeTxn(%s) = %v, want a %d error", tt.body, err, tt.wantStatus)
			}
			continue
		}
		if err != nil {
			t.Errorf("decodeTxn(%s): %v", tt.body, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("decodeTxn(%s) (-want +got):\n%s", tt.body, diff)
		}
	}
}

// b64 is the base64 of n bytes 'x'.
func b64(n int) string {
	b, _ := json.Marshal(bytes.Repeat([]byte("x"), n))
	return strings.Trim(string(b), `"`)
}

// requestOf is the inverse of TxnRequest.toTxn.
func requestOf(t yggr.Txn) TxnRequest {
	var req TxnRequest
	for _, c := range t.Compares {
		req.Compare = append(req.Compare, TxnCompare{Key: c.Key, Target: c.Target.String(), Value: c.Value, ModIndex: c.ModIndex, CreateIndex: c.CreateIndex})
	}
	for _, r := range t.Then {
		req.Success = append(req.Success, TxnOp{Op: r.Op.String(), Key: r.Key, Value: r.Value, Lease: yggr.LeaseID(r.Lease)})
	}
	for _, r := range t.Else {
		req.Failure = append(req.Failure, TxnOp{Op: r.Op.String(), Key: r.Key, Value: r.Value, Lease: yggr.LeaseID(r.Lease)})
	}
	return req
}

// FuzzDecodeTxn checks that decoding and validating a transaction body
// never panics, fails only with 400 or 413, and that what it accepts is
// valid and survives a round trip.
func FuzzDecodeTxn(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"compare":[{"key":"aw==","target":"value","value":"dg=="}],"success":[{"op":"put","key":"aw==","value":"dw=="}],"failure":[{"op":"get","key":"aw=="}]}`,
		`{"compare":[{"key":"aw==","target":"mod_index","mod_index":18446744073709551615}]}`,
		`{"compare":[{"key":"aw==","target":"missing"}],"success":[{"op":"delete","key":"aw=="}]}`,
		`{"success":[{"op":"put","key":"` + b64(17) + `"}]}`,
		`{"success":[{"op":"put","key":null,"value":null}]}`,
		`{"compare":null,"success":[],"failure":[{}]}`,
		`{"compare":[{"key":"aw==","target":"value","value":"dg=="}]} trailing`,
		`{"success":[{"op":"\u0070ut","key":"aw=="}]}`,
		`{"success":[{"op":"put","key":"aw==","value":"dg==","lease":42}],"failure":[{"op":"put","key":"aw==","lease":18446744073709551615}]}`,
		`{"success":[{"op":"get","key":"aw==","lease":7}]}`,
		`{"success":[{"op":"put","key":"aw==","lease":-1}]}`,
		`[`, `"`, `{"compare":[{"key":1}]}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		txn, err := decodeTxn(bytes.NewReader(body), fuzzLimits)
		if err != nil {
			if status, _ := classify(err); status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("decodeTxn error %v classifies as %d, want 400 or 413", err, status)
			}
			return
		}
		check := func(key, value []byte) {
			if len(key) == 0 || len(key) > fuzzLimits.MaxKeyBytes || len(value) > fuzzLimits.MaxValueBytes {
				t.Fatalf("accepted key %q / value of %d bytes beyond the limits", key, len(value))
			}
		}
		for _, c := range txn.Compares {
			check(c.Key, c.Value)
			if c.Target < yggr.CmpExists || c.Target > yggr.CmpCreateIndex {
				t.Fatalf("accepted compare target %d", c.Target)
			}
		}
		for _, r := range append(append([]yggr.Request{}, txn.Then...), txn.Else...) {
			check(r.Key, r.Value)
			if r.Op < yggr.OpPut || r.Op > yggr.OpGet || (r.Op != yggr.OpPut && (len(r.Value) > 0 || r.Lease != 0)) {
				t.Fatalf("accepted request %+v", r)
			}
		}
		again, err := json.Marshal(requestOf(txn))
		if err != nil {
			t.Fatal(err)
		}
		txn2, err := decodeTxn(bytes.NewReader(again), fuzzLimits)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if diff := cmp.Diff(txn, txn2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
