package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/yggrdb/yggr"
)

// FuzzDecodeGrant: any body decodes to a TTL in range or to a 400/413
// error, never a panic; an accepted TTL survives a round trip through
// GrantRequest.
func FuzzDecodeGrant(f *testing.F) {
	for _, seed := range []string{
		`{"ttl_ms":10000}`, `{"ttl_ms":1}`, `{"ttl_ms":2592000000}`, `{"ttl_ms":2592000001}`,
		`{"ttl_ms":0}`, `{"ttl_ms":-1}`, `{"ttl_ms":1e3}`, `{"ttl_ms":1.5}`, `{"ttl_ms":"5"}`,
		`{"ttl_ms":99999999999999999999}`, `{"ttl_ms":null}`, `{}`, `{"ttl_ms":5,"x":1}`,
		`{"ttl_ms":5} {}`, `[`, ``, "\xff", `{"TTL_MS":5}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ttl, err := decodeGrant(bytes.NewReader(body))
		if err != nil {
			if status, _ := classify(err); status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("decodeGrant error %v classifies as %d, want 400 or 413", err, status)
			}
			return
		}
		if ttl < yggr.MinLeaseTTL || ttl > yggr.MaxLeaseTTL || ttl%1e6 != 0 {
			t.Fatalf("accepted TTL %v", ttl)
		}
		again, err := decodeGrant(bytes.NewReader(jsonBody(GrantRequest{TTLMillis: ttl.Milliseconds()})))
		if err != nil || again != ttl {
			t.Fatalf("round trip of %v: %v, %v", ttl, again, err)
		}
	})
}

// FuzzParseLeaseID: any string parses to the ID it spells in decimal or
// to a 400, never a panic.
func FuzzParseLeaseID(f *testing.F) {
	for _, seed := range []string{"1", "0", "18446744073709551615", "18446744073709551616", "-1", "+1", "0x10", "", " 1", "007", "1e3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseLeaseID(s)
		if err != nil {
			if status, code := classify(err); status != http.StatusBadRequest || code != CodeInvalid {
				t.Fatalf("parseLeaseID(%q) error %v classifies as %d %s, want 400 invalid", s, err, status, code)
			}
			return
		}
		if n, err := strconv.ParseUint(s, 10, 64); err != nil || yggr.LeaseID(n) != id {
			t.Fatalf("parseLeaseID(%q) = %d, but it is not that decimal number", s, id)
		}
		if got, err := parseLeaseID(fmt.Sprint(uint64(id))); err != nil || got != id {
			t.Fatalf("round trip of %d: %d, %v", id, got, err)
		}
	})
}
