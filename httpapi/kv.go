package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/yggrdb/yggr"
)

// Item is one key of a scan or a transaction get, as JSON (key and value in
// standard base64, as encoding/json encodes []byte).
type Item struct {
	Key         []byte `json:"key"`
	Value       []byte `json:"value"`
	ModIndex    uint64 `json:"mod_index"`
	CreateIndex uint64 `json:"create_index"`
	Version     uint64 `json:"version"`
}

func itemOf(it yggr.Item) Item {
	return Item{Key: it.Key, Value: it.Value, ModIndex: it.ModIndex, CreateIndex: it.CreateIndex, Version: it.Version}
}

// PutResponse is the answer to PUT /v1/kv/{key}.
type PutResponse struct {
	Index uint64 `json:"index"`
}

// DeleteResponse is the answer to DELETE /v1/kv/{key}.
type DeleteResponse struct {
	Index   uint64 `json:"index"`
	Deleted bool   `json:"deleted"`
}

// ScanResponse is the answer to GET /v1/kv: the items in key order, and
// whether more remain after the last one (continue with start = last key
// + "\x00"). Revision is the revision the page was read at: watch from
// Revision+1 (GET /v1/watch?from=) to follow the range without a gap.
type ScanResponse struct {
	Items    []Item `json:"items"`
	More     bool   `json:"more"`
	Revision uint64 `json:"revision"`
}

// Response headers of GET /v1/kv/{key}.
const (
	HeaderIndex       = "X-Yggr-Index"        // the item's modification index
	HeaderCreateIndex = "X-Yggr-Create-Index" // the item's creation index
	HeaderVersion     = "X-Yggr-Version"      // the item's version
)

// routedKey returns the key routeKey put into r's context.
func routedKey(r *http.Request) []byte {
	key, _ := r.Context().Value(keyCtxKey{}).([]byte)
	return key
}

// checkKey checks a request's key against the limits.
func (h *handler) checkKey(key []byte) error {
	if len(key) == 0 {
		return errBadRequest("empty key")
	}
	if len(key) > h.opts.Limits.MaxKeyBytes {
		return errTooLarge("key is %d bytes, limit %d", len(key), h.opts.Limits.MaxKeyBytes)
	}
	return nil
}

// query parses the query string strictly: malformed percent-encoding,
// repeated and unknown parameters are errors.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	if r.URL.RawQuery == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errBadRequest("malformed query: %v", err)
	}
	if err := checkParams(q, allowed...); err != nil {
		return nil, err
	}
	return q, nil
}

// checkParams rejects unknown and repeated query parameters.
func checkParams(q url.Values, allowed ...string) error {
	for name, vs := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return errBadRequest("unknown query parameter %q", name)
		}
		if len(vs) > 1 {
			return errBadRequest("query parameter %q repeated", name)
		}
	}
	return nil
}

// parseReadQuery parses the query of a read: consistency and min_index, the
// read options, beside the route's own parameters.
func parseReadQuery(r *http.Request, allowed ...string) (url.Values, []yggr.ReadOption, error) {
	if r.URL.RawQuery == "" {
		return nil, nil, nil
	}
	q, err := query(r, append([]string{"consistency", "min_index"}, allowed...)...)
	if err != nil {
		return nil, nil, err
	}
	opts, err := readOptions(q)
	return q, opts, err
}

// readOptions turns the consistency and min_index parameters into read
// options.
func readOptions(q url.Values) ([]yggr.ReadOption, error) {
	var opts []yggr.ReadOption
	if s := q.Get("consistency"); s != "" {
		c, err := yggr.ParseConsistency(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, yggr.WithConsistency(c))
	}
	if s := q.Get("min_index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, errBadRequest("bad min_index %q", s)
		}
		opts = append(opts, yggr.AtLeast(n))
	}
	return opts, nil
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	h.putKey(r.Context(), w, r, routedKey(r))
}

func (h *handler) putKey(ctx context.Context, w http.ResponseWriter, r *http.Request, key []byte) {
	if err := h.checkKey(key); err != nil {
		h.fail(w, r, err)
		return
	}
	q, err := query(r, "lease")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var lease yggr.LeaseID
	if s, ok := q["lease"]; ok {
		if lease, err = parseLeaseID(s[0]); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	limit := h.valueLimit()
	if r.ContentLength > limit {
		h.fail(w, r, errTooLarge("value is %d bytes, limit %d", r.ContentLength, limit))
		return
	}
	value, err := readValue(w, r, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.db.Txn(ctx, yggr.Txn{Then: []yggr.Request{{Op: yggr.OpPut, Key: key, Value: value, Lease: uint64(lease)}}})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSONBody(w, http.StatusOK, appendPutResponse(make([]byte, 0, 32), PutResponse{Index: res.Index}))
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	h.getKey(r.Context(), w, r, routedKey(r))
}

func (h *handler) getKey(ctx context.Context, w http.ResponseWriter, r *http.Request, key []byte) {
	if err := h.checkKey(key); err != nil {
		h.fail(w, r, err)
		return
	}
	_, opts, err := parseReadQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	it, err := h.db.GetItem(ctx, key, opts...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd["Content-Type"] = contentTypeOctets
	hd.Set("Content-Length", strconv.Itoa(len(it.Value)))
	hd.Set(HeaderIndex, strconv.FormatUint(it.ModIndex, 10))
	hd.Set(HeaderCreateIndex, strconv.FormatUint(it.CreateIndex, 10))
	hd.Set(HeaderVersion, strconv.FormatUint(it.Version, 10))
	w.WriteHeader(http.StatusOK)
	w.Write(it.Value)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	h.deleteKey(r.Context(), w, r, routedKey(r))
}

func (h *handler) deleteKey(ctx context.Context, w http.ResponseWriter, r *http.Request, key []byte) {
	if err := h.checkKey(key); err != nil {
		h.fail(w, r, err)
		return
	}
	index, deleted, err := h.db.DeleteIndex(ctx, key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSONBody(w, http.StatusOK, appendDeleteResponse(make([]byte, 0, 48), DeleteResponse{Index: index, Deleted: deleted}))
}

// valueLimit is the largest value a put takes: the value limit, or the
// body limit if lower.
func (h *handler) valueLimit() int64 {
	return min(int64(h.opts.Limits.MaxValueBytes), h.opts.MaxBodyBytes)
}

// readValue reads a PUT's body, at most limit bytes, into a buffer sized
// by its Content-Length (see readAllSized), not grown from 512 bytes.
func readValue(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return readAllSized(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
}

// appendPutResponse appends p as JSON with writeJSON's newline, byte for
// byte what json.Marshal gives (the hot path: no reflection).
func appendPutResponse(b []byte, p PutResponse) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendUint(b, p.Index, 10)
	return append(b, "}\n"...)
}

// appendDeleteResponse appends d as appendPutResponse does.
func appendDeleteResponse(b []byte, d DeleteResponse) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendUint(b, d.Index, 10)
	b = append(b, `,"deleted":`...)
	b = strconv.AppendBool(b, d.Deleted)
	return append(b, "}\n"...)
}

// scanRange combines prefix, start and end (empty: unbounded) into one
// range [start, end); nil end is unbounded.
func scanRange(prefix, start, end []byte) ([]byte, []byte) {
	if len(prefix) > 0 {
		if bytes.Compare(start, prefix) < 0 {
			start = prefix
		}
		if pend := yggr.PrefixEnd(prefix); pend != nil && (len(end) == 0 || bytes.Compare(pend, end) < 0) {
			end = pend
		}
	}
	if len(end) == 0 {
		end = nil
	}
	return start, end
}

func (h *handler) scan(w http.ResponseWriter, r *http.Request) {
	q, opts, err := parseReadQuery(r, "prefix", "start", "end", "limit")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit := DefaultScanLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.fail(w, r, errBadRequest("bad limit %q (want a count ≥ 0; 0 means the default %d)", s, DefaultScanLimit))
			return
		}
		if n > 0 {
			limit = min(n, MaxScanLimit)
		}
	}
	prefix, start, end := []byte(q.Get("prefix")), []byte(q.Get("start")), []byte(q.Get("end"))
	for name, b := range map[string][]byte{"prefix": prefix, "start": start, "end": end} {
		if len(b) > h.opts.Limits.MaxKeyBytes {
			h.fail(w, r, errTooLarge("%s is %d bytes, limit %d", name, len(b), h.opts.Limits.MaxKeyBytes))
			return
		}
	}
	start, end = scanRange(prefix, start, end)
	resp := ScanResponse{Items: []Item{}}
	size := 0
	if end == nil || bytes.Compare(start, end) < 0 {
		opts = append(opts, yggr.ReadRevision(&resp.Revision))
		for it, err := range h.db.Scan(r.Context(), start, end, opts...) {
			if err != nil {
				h.fail(w, r, err)
				return
			}
			if len(resp.Items) == limit || (len(resp.Items) > 0 && size+len(it.Key)+len(it.Value) > maxScanBytes) {
				resp.More = true
				break
			}
			size += len(it.Key) + len(it.Value)
			resp.Items = append(resp.Items, itemOf(it))
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
