package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/yggrdb/yggr"
)

// Default limits of Options.
const (
	DefaultMaxBodyBytes   = 4 << 20 // 4 MiB
	DefaultRequestTimeout = 10 * time.Second
)

// Scan bounds: a scan without a limit returns at most DefaultScanLimit
// items, and never more than MaxScanLimit items or about maxScanBytes of
// keys and values (then "more" is true).
const (
	DefaultScanLimit = 1000
	MaxScanLimit     = 10000
	maxScanBytes     = 16 << 20
)

// Options configures NewHandler. The zero value is usable.
type Options struct {
	// Token, if not empty, is the bearer token every request except
	// /healthz and /readyz must carry ("Authorization: Bearer <token>").
	Token string
	// Limits bound the keys and values of requests, with the database's
	// type and defaults (yggr.DefaultMaxKeyBytes, 4 KiB, and
	// yggr.DefaultMaxValueBytes, 1 MiB; zero or negative fields take the
	// defaults). The database's own limits (yggr.WithLimits) apply as
	// well.
	Limits yggr.Limits
	// MaxBodyBytes bounds request bodies (default 4 MiB).
	MaxBodyBytes int64
	// Logger receives one line per failed request and per recovered panic;
	// nil discards.
	Logger *slog.Logger
	// Registry receives the database's metrics and the HTTP metrics and is
	// served on /metrics. Nil: a new registry that also holds the Go
	// runtime and process collectors.
	Registry *prometheus.Registry
	// RequestTimeout bounds every request, including a backup's streaming
	// (default 10s), but not a watch stream.
	RequestTimeout time.Duration
	// MaxWatchers bounds the watch streams served at once (default
	// DefaultMaxWatchers); one more is refused with 503 busy.
	MaxWatchers int
	// Shutdown, when closed, ends every watch stream with a final "closed"
	// line (its client resumes elsewhere). http.Server.Shutdown waits for
	// the streams, which otherwise run until their client leaves or the
	// database closes: close it from http.Server.RegisterOnShutdown.
	Shutdown <-chan struct{}
}

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.WithDefaults()
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = DefaultMaxWatchers
	}
	return o
}

// handler serves the HTTP API over one DB.
type handler struct {
	db      *yggr.DB
	opts    Options
	mux     *http.ServeMux
	metrics *httpMetrics
	watches watchState
	// watchHook, if set, runs before each change a watch stream sends
	// (tests: pausing a stream).
	watchHook func()
	// batchOpHook, if set, runs before each operation of a batch, on
	// the goroutine that checks it (tests: a panic in one operation).
	batchOpHook func(BatchOp)
	// batchWritesHook, if set, runs before a batch's checked writes are
	// proposed together (tests: a panic there).
	batchWritesHook func()
}

// kvPrefix is the escaped path prefix of the single-key routes.
const kvPrefix = "/v1/kv/"

// kvRoutePath is the path single-key requests are routed on once their key
// is taken out of the URL (see ServeHTTP).
const kvRoutePath = kvPrefix + "key"

type keyCtxKey struct{}

// NewHandler returns the HTTP API of db (see the package documentation for
// the routes). It registers db's metrics and the HTTP metrics in
// opts.Registry; registering two handlers in one registry keeps the first
// handler's database metrics and logs an error. The handler never closes
// db.
func NewHandler(db *yggr.DB, opts Options) http.Handler {
	opts = opts.withDefaults()
	h := &handler{db: db, opts: opts, mux: http.NewServeMux()}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if err := reg.Register(newDBCollector(db)); err != nil {
		opts.Logger.Error("httpapi: registering the database metrics", "err", err)
	}
	h.metrics = registerHTTPMetrics(reg, opts.Logger)

	m := h.mux
	m.HandleFunc("PUT "+kvRoutePath, h.put)
	m.HandleFunc("GET "+kvRoutePath, h.get)
	m.HandleFunc("DELETE "+kvRoutePath, h.delete)
	m.HandleFunc("GET /v1/kv", h.scan)
	m.HandleFunc("POST /v1/txn", h.txn)
	m.HandleFunc("POST /v1/batch", h.batch)
	m.HandleFunc("POST /v1/leases", h.grant)
	m.HandleFunc("GET /v1/leases", h.leases)
	m.HandleFunc("GET /v1/leases/{id}", h.timeToLive)
	m.HandleFunc("DELETE /v1/leases/{id}", h.revoke)
	m.HandleFunc("POST /v1/leases/{id}/keepalive", h.keepAlive)
	m.HandleFunc("GET /v1/status", h.status)
	m.HandleFunc("GET /v1/members", h.members)
	m.HandleFunc("GET /v1/cluster", h.cluster)
	m.HandleFunc("POST /v1/members", h.addMember)
	m.HandleFunc("POST /v1/members/{id}/promote", h.promoteMember)
	m.HandleFunc("DELETE /v1/members/{id}", h.removeMember)
	m.HandleFunc("POST /v1/leader/transfer", h.transferLeader)
	m.HandleFunc("POST /v1/snapshot", h.snapshot)
	m.HandleFunc("GET /v1/backup", h.backup)
	m.HandleFunc(watchPattern, h.watch)
	h.registerCoord(m)
	m.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{opts.Logger}}))
	m.HandleFunc("GET /healthz", h.healthz)
	m.HandleFunc("GET /readyz", h.readyz)
	m.HandleFunc("GET /ui", consoleRedirect)
	m.Handle("GET /ui/", consoleHandler())
	return h
}

// ServeHTTP recovers panics, checks the token, bounds the request with
// RequestTimeout, records metrics and routes.
//
// A single-key route's key is taken from the escaped path here and the
// request is routed on a fixed path: ServeMux would otherwise unescape and
// clean the path (a key "a%2F..%2Fb" would be redirected to "b").
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	route := "unmatched"
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				h.metrics.observe(route, http.StatusInternalServerError, time.Since(start))
				panic(v)
			}
			h.opts.Logger.Error("httpapi: panic serving request", "method", r.Method, "route", route,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rw.wroteHeader {
				writeErrorCode(rw, http.StatusInternalServerError, CodeInternal, "httpapi: internal error")
			}
		}
		h.metrics.observe(route, rw.code(), time.Since(start))
	}()

	authed := h.opts.Token == "" || h.authorized(r)
	if hf, name := h.kvHandler(r.Method); hf != nil {
		if escaped, ok := strings.CutPrefix(escapedPath(r), kvPrefix); ok {
			key, err := url.PathUnescape(escaped)
			switch {
			case err != nil && !authed:
				h.unauthorized(rw)
			case err != nil:
				writeError(rw, errBadRequest("malformed percent-encoding in key: %v", err))
			case !authed:
				route = name
				h.unauthorized(rw)
			default:
				route = name
				h.serveKV(rw, r, hf, []byte(key))
			}
			return
		}
	}
	r, err := h.routeKey(r)
	if err != nil {
		if !authed {
			h.unauthorized(rw)
			return
		}
		writeError(rw, err)
		return
	}
	mh, pattern := h.mux.Handler(r)
	if pattern == "" {
		h.unmatched(rw, r, mh)
		return
	}
	route = strings.Replace(pattern, kvRoutePath, "/v1/kv/{key}", 1)
	if !authed && !publicRoute(pattern) {
		h.unauthorized(rw)
		return
	}
	if streaming(pattern) {
		h.mux.ServeHTTP(rw, r)
		return
	}
	limitBody(w, r, h.opts.RequestTimeout)
	if blocking(pattern) { // bounded by the client, not RequestTimeout
		h.mux.ServeHTTP(rw, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.RequestTimeout)
	defer cancel()
	h.mux.ServeHTTP(rw, r.WithContext(ctx))
}

// Metric route names of the single-key routes.
const (
	kvRouteGet    = "GET /v1/kv/{key}"
	kvRoutePut    = "PUT /v1/kv/{key}"
	kvRouteDelete = "DELETE /v1/kv/{key}"
)

// kvFunc serves a single-key route: key is taken from the path, and ctx
// (r's context bounded by RequestTimeout) is the request's context.
type kvFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, key []byte)

// kvHandler returns the single-key handler of method and its route name,
// or nil: the hot path that skips ServeMux (HEAD, and methods no
// single-key route has, take ServeMux's path and its 405 answer).
func (h *handler) kvHandler(method string) (kvFunc, string) {
	switch method {
	case http.MethodGet:
		return h.getKey, kvRouteGet
	case http.MethodPut:
		return h.putKey, kvRoutePut
	case http.MethodDelete:
		return h.deleteKey, kvRouteDelete
	}
	return nil, ""
}

// serveKV serves a single-key request (GET, PUT, DELETE /v1/kv/{key}) as
// ServeHTTP would through ServeMux, without copying the request: the
// handler gets the key and the context bounded by RequestTimeout as
// arguments.
func (h *handler) serveKV(w *statusWriter, r *http.Request, hf kvFunc, key []byte) {
	limitBody(w.ResponseWriter, r, h.opts.RequestTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.RequestTimeout)
	defer cancel()
	hf(ctx, w, r, key)
}

// escapedPath returns r's path as sent (escaped).
func escapedPath(r *http.Request) string {
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.EscapedPath()
}

// routeKey moves the key of a single-key route out of the path (into the
// context) and returns the request to route.
func (h *handler) routeKey(r *http.Request) (*http.Request, error) {
	escaped, ok := strings.CutPrefix(escapedPath(r), kvPrefix)
	if !ok {
		return r, nil
	}
	key, err := url.PathUnescape(escaped)
	if err != nil {
		return r, errBadRequest("malformed percent-encoding in key: %v", err)
	}
	r2 := r.WithContext(context.WithValue(r.Context(), keyCtxKey{}, []byte(key)))
	u := *r.URL
	u.Path, u.RawPath = kvRoutePath, ""
	r2.URL = &u
	return r2, nil
}

// unmatched answers a request no route matched: 405 with Allow when the
// path exists for other methods, 404 otherwise.
func (h *handler) unmatched(w http.ResponseWriter, r *http.Request, mh http.Handler) {
	probe := &probeWriter{header: http.Header{}}
	mh.ServeHTTP(probe, r) // ServeMux's own 404/405/redirect handler: writes only to probe
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeErrorCode(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			fmt.Sprintf("httpapi: method %s not allowed (allowed: %s)", r.Method, probe.header.Get("Allow")))
		return
	}
	writeErrorCode(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("httpapi: no route %s %s", r.Method, r.URL.EscapedPath()))
}

// publicRoute reports whether pattern is served without a token: the
// probes an orchestrator calls, and the console's static files (they hold
// no data; the page asks for the token and sends it with every API call).
func publicRoute(pattern string) bool {
	switch pattern {
	case "GET /healthz", "GET /readyz", "GET /ui", "GET /ui/":
		return true
	}
	return false
}

func (h *handler) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="yggr"`)
	writeErrorCode(w, http.StatusUnauthorized, CodeUnauthorized, "httpapi: missing or wrong bearer token")
}

func (h *handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Compare digests so that neither the token's bytes nor its length
	// leak through timing.
	got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(h.opts.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// fail writes err as the response and logs server-side failures (see
// failure).
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, err := h.failure(r, err)
	writeErrorCode(w, status, code, err.Error())
}

// failure classifies the error a request (or one operation of a batch)
// ended with, and logs it if it is the server's. A request cancelled
// because its client hung up is the client's doing: it is recorded as 499
// (StatusClientClosed), not as a server error.
func (h *handler) failure(r *http.Request, err error) (status int, code string, _ error) {
	if errors.Is(err, context.Canceled) && errors.Is(r.Context().Err(), context.Canceled) && !errors.Is(err, yggr.ErrUnknownOutcome) {
		err = fmt.Errorf("%w: %w", errClientClosed, err)
	}
	status, code = classify(err)
	switch {
	case status == StatusClientClosed || status == http.StatusRequestTimeout:
		h.opts.Logger.Info("httpapi: client hung up or was too slow", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	case status >= 500 && !errors.Is(err, context.Canceled):
		h.opts.Logger.Warn("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	return status, code, err
}

// statusWriter records the status of a response. Unwrap lets
// http.ResponseController reach the underlying writer (Flush).
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.status
}

// probeWriter captures what ServeMux's fallback handler would answer.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// slogPromLogger adapts slog to promhttp's error log.
type slogPromLogger struct{ l *slog.Logger }

func (s slogPromLogger) Println(v ...any) {
	s.l.Error("httpapi: serving metrics", "err", fmt.Sprint(v...))
}
