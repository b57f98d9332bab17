package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/yggrdb/yggr"
)

// Error codes carried in the "code" field of an error response. They are
// part of the API: never rename one.
const (
	CodeInvalid          = "invalid"            // 400: malformed request
	CodeLeaseDisabled    = "lease_disabled"     // 400: lease read on a node without lease reads
	CodeUnauthorized     = "unauthorized"       // 401: missing or wrong bearer token
	CodeNotFound         = "not_found"          // 404: no such key or route
	CodeLeaseNotFound    = "lease_not_found"    // 404: no such lease (never granted, revoked or expired)
	CodeLeaseTTL         = "lease_ttl"          // 400: a lease TTL out of range (yggr.MinLeaseTTL to yggr.MaxLeaseTTL)
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeMembership       = "membership"         // 409: membership change refused
	CodeTransfer         = "transfer"           // 409: leadership transfer in progress
	CodeRequestTimeout   = "request_timeout"    // 408: the request body did not arrive within the request timeout
	CodeTooLarge         = "too_large"          // 413: key, value or body beyond the limits
	CodeNoSpace          = "no_space"           // 507: the leader's disk is below its free-space reserve
	CodeClientClosed     = "client_closed"      // 499 (metrics and log only): the client hung up first
	CodeNoLeader         = "no_leader"          // 503: no leader known
	CodeNotLeader        = "not_leader"         // 503: this node cannot serve it without a leader
	CodeBusy             = "busy"               // 503: too many pending requests
	CodeClosed           = "closed"             // 503: the database is closing
	CodeDropped          = "dropped"            // 503: write dropped by a leadership change, not applied
	CodeCanceled         = "canceled"           // 504: the request was cancelled; a write may still be applied
	CodeCatchingUp       = "catching_up"        // 503 from /readyz: the applied index trails the commit index
	CodeStorage          = "storage_failed"     // 503: this node's disk failed and it stopped; ask another node
	CodeStorageStalled   = "storage_stalled"    // 503 from /readyz: this node's disk has not finished a write for an election timeout
	CodeTimeout          = "timeout"            // 504: deadline passed; a write may still be applied
	CodeUnknownOutcome   = "unknown_outcome"    // 504: a write may or may not have been applied (the leader changed or was lost)
	CodeCorrupt          = "corrupt"            // 500
	CodeInternal         = "internal"           // 500
)

// ErrUnavailable is returned by a Client when no endpoint answered (every
// attempt failed to connect or to read a response).
var ErrUnavailable = errors.New("httpapi: no endpoint available")

// ErrUnauthorized matches an *APIError with status 401.
var ErrUnauthorized = errors.New("httpapi: unauthorized")

// APIError is an error response of the HTTP API, as a Client returns it.
// It matches the root package's sentinels with errors.Is: 404 ErrNotFound,
// 400 ErrInvalid (and ErrLeaseTTL by code), 404 ErrLeaseNotFound by code,
// 413 ErrTooLarge, 504 ErrTimeout (or ErrUnknownOutcome by code), 409 ErrMembership or
// ErrTransfer, 503 ErrNoLeader, ErrNotLeader, ErrBusy, ErrClosed, ErrStorage or
// ErrDropped by code, 401 ErrUnauthorized.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

// Error returns the server's message, which carries its own prefix, and
// the status and code: "yggr: not found (HTTP 404 not_found)".
func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("httpapi: HTTP %d %s", e.StatusCode, e.Code)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.StatusCode, e.Code)
}

// Is reports whether e corresponds to target, one of the root package's
// sentinels or ErrUnauthorized.
func (e *APIError) Is(target error) bool {
	switch target {
	case yggr.ErrNotFound:
		return e.StatusCode == http.StatusNotFound && e.Code == CodeNotFound
	case yggr.ErrInvalid:
		return e.StatusCode == http.StatusBadRequest
	case yggr.ErrLeaseDisabled:
		return e.Code == CodeLeaseDisabled
	case yggr.ErrLeaseNotFound:
		return e.StatusCode == http.StatusNotFound && e.Code == CodeLeaseNotFound
	case yggr.ErrLeaseTTL:
		return e.StatusCode == http.StatusBadRequest && e.Code == CodeLeaseTTL
	case yggr.ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case yggr.ErrTimeout:
		return e.StatusCode == http.StatusGatewayTimeout && e.Code != CodeUnknownOutcome
	case yggr.ErrUnknownOutcome:
		return e.Code == CodeUnknownOutcome
	case yggr.ErrCorrupt:
		return e.Code == CodeCorrupt
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	}
	if e.StatusCode == http.StatusConflict || e.StatusCode == http.StatusServiceUnavailable {
		switch target {
		case yggr.ErrMembership:
			return e.Code == CodeMembership
		case yggr.ErrTransfer:
			return e.Code == CodeTransfer
		case yggr.ErrNoSpace:
			return e.Code == CodeNoSpace
		case yggr.ErrStorage:
			return e.Code == CodeStorage
		case yggr.ErrNoLeader:
			return e.Code == CodeNoLeader
		case yggr.ErrNotLeader:
			return e.Code == CodeNotLeader
		case yggr.ErrBusy:
			return e.Code == CodeBusy
		case yggr.ErrClosed:
			return e.Code == CodeClosed
		case yggr.ErrDropped:
			return e.Code == CodeDropped
		}
	}
	return false
}

// errClientClosed: the client hung up while its request was served.
var errClientClosed = errors.New("httpapi: the client hung up")

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// classify maps an error of the root package (or of request handling) to an
// HTTP status and an error code.
func classify(err error) (int, string) {
	var maxBytes *http.MaxBytesError
	var body *bodyError
	switch {
	case errors.As(err, &body):
		if body.timeout() {
			return http.StatusRequestTimeout, CodeRequestTimeout
		}
		return StatusClientClosed, CodeClientClosed
	case errors.Is(err, errClientClosed):
		return StatusClientClosed, CodeClientClosed
	case errors.As(err, &maxBytes), errors.Is(err, yggr.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge
	case errors.Is(err, yggr.ErrLeaseDisabled):
		return http.StatusBadRequest, CodeLeaseDisabled
	case errors.Is(err, yggr.ErrLeaseTTL):
		return http.StatusBadRequest, CodeLeaseTTL
	case errors.Is(err, yggr.ErrInvalid):
		return http.StatusBadRequest, CodeInvalid
	case errors.Is(err, yggr.ErrLeaseNotFound):
		return http.StatusNotFound, CodeLeaseNotFound
	case errors.Is(err, yggr.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, yggr.ErrMembership):
		return http.StatusConflict, CodeMembership
	case errors.Is(err, yggr.ErrTransfer):
		return http.StatusConflict, CodeTransfer
	case errors.Is(err, yggr.ErrNoSpace):
		return http.StatusInsufficientStorage, CodeNoSpace
	case errors.Is(err, yggr.ErrStorage):
		return http.StatusServiceUnavailable, CodeStorage
	case errors.Is(err, yggr.ErrNotLeader):
		return http.StatusServiceUnavailable, CodeNotLeader
	case errors.Is(err, yggr.ErrNoLeader):
		return http.StatusServiceUnavailable, CodeNoLeader
	case errors.Is(err, yggr.ErrBusy):
		return http.StatusServiceUnavailable, CodeBusy
	case errors.Is(err, yggr.ErrClosed):
		return http.StatusServiceUnavailable, CodeClosed
	case errors.Is(err, yggr.ErrDropped):
		return http.StatusServiceUnavailable, CodeDropped
	case errors.Is(err, yggr.ErrUnknownOutcome):
		return http.StatusGatewayTimeout, CodeUnknownOutcome
	case errors.Is(err, yggr.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, CodeTimeout
	case errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout, CodeCanceled
	case errors.Is(err, yggr.ErrCorrupt):
		return http.StatusInternalServerError, CodeCorrupt
	}
	return http.StatusInternalServerError, CodeInternal
}

// writeError writes err as a JSON error response with its status.
func writeError(w http.ResponseWriter, err error) {
	status, code := classify(err)
	writeErrorCode(w, status, code, err.Error())
}

// writeErrorCode writes a JSON error response. A 503 carries Retry-After.
func writeErrorCode(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	h := w.Header()
	h.Del("Content-Length")
	h.Del("X-Yggr-Index")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	writeJSON(w, status, b)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only for values this package builds: a bug
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"httpapi: encoding the response failed"}}`)
	}
	writeJSONBody(w, status, append(body, '\n'))
}

// Header values set on every JSON answer, shared (net/http only reads
// them).
var (
	contentTypeJSON   = []string{"application/json"}
	contentTypeOctets = []string{"application/octet-stream"}
	noSniff           = []string{"nosniff"}
)

// writeJSONBody writes body, JSON ending in a newline, as writeJSON does.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	hd["Content-Type"] = contentTypeJSON
	hd["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	w.Write(body)
}

// errBadRequest returns an error that classifies as 400.
func errBadRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", yggr.ErrInvalid, fmt.Sprintf(format, args...))
}

// errTooLarge returns an error that classifies as 413.
func errTooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %s", yggr.ErrTooLarge, fmt.Sprintf(format, args...))
}
