package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/yggrdb/yggr"
)

// GrantRequest is the body of POST /v1/leases: the TTL of the new lease
// in milliseconds, from yggr.MinLeaseTTL to yggr.MaxLeaseTTL.
type GrantRequest struct {
	TTLMillis int64 `json:"ttl_ms"`
}

// LeaseResponse is the answer to POST /v1/leases (the new lease) and to
// POST /v1/leases/{id}/keepalive (the TTL the lease was renewed for), and
// one lease of GET /v1/leases.
type LeaseResponse struct {
	ID        yggr.LeaseID `json:"id"`
	TTLMillis int64        `json:"ttl_ms"`
}

// LeasesResponse is the answer to GET /v1/leases: every live lease, in ID
// order.
type LeasesResponse struct {
	Leases []LeaseResponse `json:"leases"`
}

// TimeToLiveResponse is the answer to GET /v1/leases/{id}: the lease's
// TTL as granted, the time it has left by the leader's clock, and, with
// keys=true, its keys in key order (standard base64; omitted when it has
// none or they were not asked for).
type TimeToLiveResponse struct {
	ID              yggr.LeaseID `json:"id"`
	TTLMillis       int64        `json:"ttl_ms"`
	RemainingMillis int64        `json:"remaining_ms"`
	Keys            [][]byte     `json:"keys,omitempty"`
}

// millis is d in whole milliseconds, the unit of lease TTLs.
func millis(d time.Duration) int64 { return int64(d / time.Millisecond) }

// errLeaseTTL returns an error that classifies as 400 lease_ttl and
// matches yggr.ErrLeaseTTL and yggr.ErrInvalid, as the library's does.
func errLeaseTTL(what string) error {
	return &leaseTTLError{fmt.Sprintf("%v: %s (want %v to %v)", yggr.ErrLeaseTTL, what, yggr.MinLeaseTTL, yggr.MaxLeaseTTL)}
}

// leaseTTLError matches yggr.ErrLeaseTTL and yggr.ErrInvalid with one
// prefix in its message.
type leaseTTLError struct{ msg string }

func (e *leaseTTLError) Error() string   { return e.msg }
func (e *leaseTTLError) Unwrap() []error { return []error{yggr.ErrInvalid, yggr.ErrLeaseTTL} }

// grantBody is how decodeGrant reads a GrantRequest: the TTL as raw JSON,
// so that a number beyond int64 is a TTL error rather than malformed
// JSON, and a string is not taken for a number.
type grantBody struct {
	TTLMillis json.RawMessage `json:"ttl_ms"`
}

// decodeGrant reads one JSON GrantRequest from r (unknown fields and
// trailing data are errors) and returns its TTL. Errors classify as 400
// (code lease_ttl for a TTL out of range) or 413; it never panics.
func decodeGrant(r io.Reader) (time.Duration, error) {
	var body grantBody
	if err := decodeStrict(r, &body, `grant JSON (want {"ttl_ms":N})`); err != nil {
		return 0, err
	}
	raw := string(body.TTLMillis)
	if raw == "" || raw == "null" {
		return 0, errLeaseTTL("ttl_ms missing")
	}
	ms, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errLeaseTTL("ttl_ms " + raw)
		}
		return 0, errBadRequest("ttl_ms %.40s is not a whole number of milliseconds", raw)
	}
	if ms < millis(yggr.MinLeaseTTL) || ms > millis(yggr.MaxLeaseTTL) {
		return 0, errLeaseTTL(fmt.Sprintf("ttl_ms %d", ms))
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// parseLeaseID parses a lease ID as it appears in a path or a query: a
// decimal number. 0 is accepted here (it names no lease: the database
// answers lease_not_found, or, on a put, attaches nothing).
func parseLeaseID(s string) (yggr.LeaseID, error) {
	if s == "" || s[0] == '+' {
		return 0, errBadRequest("bad lease ID %q (want a decimal number)", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errBadRequest("bad lease ID %q (want a decimal number below 2^64)", s)
	}
	return yggr.LeaseID(n), nil
}

// leaseIDOf returns the {id} of a lease route.
func leaseIDOf(r *http.Request) (yggr.LeaseID, error) {
	return parseLeaseID(r.PathValue("id"))
}

func (h *handler) grant(w http.ResponseWriter, r *http.Request) {
	ttl, err := decodeGrant(http.MaxBytesReader(w, r.Body, min(h.opts.MaxBodyBytes, 64<<10)))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, err := h.db.Grant(r.Context(), ttl)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, LeaseResponse{ID: id, TTLMillis: millis(ttl)})
}

func (h *handler) keepAlive(w http.ResponseWriter, r *http.Request) {
	id, err := leaseIDOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ttl, err := h.db.KeepAlive(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, LeaseResponse{ID: id, TTLMillis: millis(ttl)})
}

func (h *handler) revoke(w http.ResponseWriter, r *http.Request) {
	id, err := leaseIDOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.db.Revoke(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *handler) timeToLive(w http.ResponseWriter, r *http.Request) {
	id, err := leaseIDOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q, err := query(r, "keys")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	keys, err := boolParam(q, "keys")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	info, err := h.db.TimeToLive(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := TimeToLiveResponse{ID: id, TTLMillis: millis(info.TTL), RemainingMillis: millis(info.Remaining)}
	if keys {
		resp.Keys = info.Keys
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) leases(w http.ResponseWriter, r *http.Request) {
	_, opts, err := parseReadQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ls, err := h.db.Leases(r.Context(), opts...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := LeasesResponse{Leases: make([]LeaseResponse, len(ls))}
	for i, l := range ls {
		resp.Leases[i] = LeaseResponse{ID: l.ID, TTLMillis: millis(l.TTL)}
	}
	writeJSON(w, http.StatusOK, resp)
}

// boolParam reads an optional boolean query parameter: absent is false;
// present without a value ("?keys") is true.
func boolParam(q url.Values, name string) (bool, error) {
	vs, ok := q[name]
	if !ok {
		return false, nil
	}
	if vs[0] == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(vs[0])
	if err != nil {
		return false, errBadRequest("bad %s %q (want true or false)", name, vs[0])
	}
	return b, nil
}
