package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
)

// The lock and election routes run the concurrency package's recipes on
// the server, on a lease the client owns and keeps alive (etcd's v3lock
// and v3election model): a lock or a candidacy lasts as long as that lease.
const (
	lockPattern      = "POST /v1/lock"
	unlockPattern    = "POST /v1/unlock"
	campaignPattern  = "POST /v1/election/campaign"
	proclaimPattern  = "POST /v1/election/proclaim"
	resignPattern    = "POST /v1/election/resign"
	leaderPattern    = "GET /v1/election/leader"
	observePattern   = "GET /v1/election/observe"
	keySuffixBytes   = 34 // "/" and the "<16 hex>-<16 hex>" a lock or candidate key adds to its name
	coordOpTimeout   = 10 * time.Second
	maxCoordBodySize = 4 << 20
)

// Error codes of the lock and election routes.
const (
	CodeLockLost        = "lock_lost"         // 409: the lock's key is gone (its lease ended, or it was released)
	CodeNotElected      = "not_elected"       // 409: the candidate does not lead (any more)
	CodeNoElectedLeader = "no_elected_leader" // 404: the election has no leader now
)

// blocking reports whether pattern waits as long as it takes (a lock, a
// campaign): no RequestTimeout, the client's context bounds it.
func blocking(pattern string) bool { return pattern == lockPattern || pattern == campaignPattern }

// LockKey is a held lock: the answer to POST /v1/lock and the body of POST
// /v1/unlock. Token is the fencing token (the creation revision of Key).
type LockKey struct {
	Name  string `json:"name"`
	Key   []byte `json:"key"`
	Token uint64 `json:"token"`
	Lease uint64 `json:"lease"`
}

// LockRequest is the body of POST /v1/lock: take the lock Name for the
// holder of Lease (which the client keeps alive).
type LockRequest struct {
	Name  string `json:"name"`
	Lease uint64 `json:"lease"`
}

// LeaderKey is a leadership: the answer to a campaign and what proclaim
// and resign name. Rev is the creation revision of Key: the term, a
// fencing token.
type LeaderKey struct {
	Name  string `json:"name"`
	Key   []byte `json:"key"`
	Rev   uint64 `json:"rev"`
	Lease uint64 `json:"lease"`
}

// CampaignRequest is the body of POST /v1/election/campaign.
type CampaignRequest struct {
	Name  string `json:"name"`
	Lease uint64 `json:"lease"`
	Value []byte `json:"value"`
}

// ProclaimRequest is the body of POST /v1/election/proclaim.
type ProclaimRequest struct {
	Leader LeaderKey `json:"leader"`
	Value  []byte    `json:"value"`
}

// ResignRequest is the body of POST /v1/election/resign.
type ResignRequest struct {
	Leader LeaderKey `json:"leader"`
}

// ElectionLeader is an election's leader: the answer to GET
// /v1/election/leader and each line of an observe stream.
type ElectionLeader struct {
	Key      []byte `json:"key"`
	Value    []byte `json:"value"`
	Rev      uint64 `json:"rev"`
	ModIndex uint64 `json:"mod_index"`
}

// ObserveLine is one line of GET /v1/election/observe: a leader, or the
// error that ends the stream.
type ObserveLine struct {
	Leader *ElectionLeader `json:"leader,omitempty"`
	Error  *WatchError     `json:"error,omitempty"`
}

func (h *handler) registerCoord(m *http.ServeMux) {
	m.HandleFunc(lockPattern, h.lock)
	m.HandleFunc(unlockPattern, h.unlock)
	m.HandleFunc(campaignPattern, h.campaign)
	m.HandleFunc(proclaimPattern, h.proclaim)
	m.HandleFunc(resignPattern, h.resign)
	m.HandleFunc(leaderPattern, h.leader)
	m.HandleFunc(observePattern, h.observe)
}

// checkName validates a lock or election name: not empty, and short enough
// for its keys.
func (h *handler) checkName(name string) error {
	if name == "" {
		return errBadRequest("empty name")
	}
	if n := len(name) + keySuffixBytes; n > h.opts.Limits.MaxKeyBytes {
		return errTooLarge("name is %d bytes; its keys would be %d, limit %d", len(name), n, h.opts.Limits.MaxKeyBytes)
	}
	return nil
}

func (h *handler) checkValue(v []byte) error {
	if len(v) > h.opts.Limits.MaxValueBytes {
		return errTooLarge("value is %d bytes, limit %d", len(v), h.opts.Limits.MaxValueBytes)
	}
	return nil
}

// session is a session on the client's lease, which the client keeps
// alive: the server neither renews nor revokes it.
func (h *handler) session(lease uint64) (*concurrency.Session, error) {
	if lease == 0 {
		return nil, errBadRequest("lease 0: grant a lease (POST /v1/leases) and keep it alive")
	}
	return concurrency.NewSession(context.Background(), h.db,
		concurrency.WithExistingLease(yggr.LeaseID(lease)), concurrency.WithoutKeepAlive())
}

// coordFail answers a failed lock or election request.
func (h *handler) coordFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, concurrency.ErrLockLost):
		writeErrorCode(w, http.StatusConflict, CodeLockLost, err.Error())
	case errors.Is(err, concurrency.ErrNotElected):
		writeErrorCode(w, http.StatusConflict, CodeNotElected, err.Error())
	case errors.Is(err, concurrency.ErrNoLeader):
		writeErrorCode(w, http.StatusNotFound, CodeNoElectedLeader, err.Error())
	case errors.Is(err, yggr.ErrLeaseNotFound), errors.Is(err, concurrency.ErrSessionExpired):
		writeErrorCode(w, http.StatusNotFound, CodeLeaseNotFound, err.Error())
	default:
		h.fail(w, r, err)
	}
}

// waitContext is the context of a request that may wait long (lock,
// campaign, observe): it clears the server's write deadline and ends when
// the client leaves or the server shuts down (errShuttingDown).
func (h *handler) waitContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	ctx, cancel := context.WithCancelCause(r.Context())
	if h.opts.Shutdown != nil {
		// Owned by this request: ends when the request does or the
		// server shuts down.
		go func() {
			select {
			case <-h.opts.Shutdown:
				cancel(errShuttingDown)
			case <-ctx.Done():
			}
		}()
	}
	return ctx, func() { cancel(nil) }
}

// cause is ctx's cause if ctx ended (the server shutting down), else err.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(err, context.Canceled) {
		return c
	}
	return err
}

// coordRequest decodes a coordination request's body into a T, checks it
// (check returns the lease the request acts under) and opens a session on
// that lease, which the caller closes. On failure it has answered the
// client, and ok is false.
func coordRequest[T any](h *handler, w http.ResponseWriter, r *http.Request, check func(*T) (uint64, error)) (req T, s *concurrency.Session, ok bool) {
	err := decodeStrict(http.MaxBytesReader(w, r.Body, maxCoordBodySize), &req, "JSON body")
	var lease uint64
	if err == nil {
		lease, err = check(&req)
	}
	if err == nil {
		s, err = h.session(lease)
	}
	if err != nil {
		h.fail(w, r, err)
		return req, nil, false
	}
	return req, s, true
}

// lock serves POST /v1/lock: it waits until the lock is held (as long as
// the client waits) and answers its key and fencing token.
func (h *handler) lock(w http.ResponseWriter, r *http.Request) {
	req, s, ok := coordRequest(h, w, r, func(q *LockRequest) (uint64, error) { return q.Lease, h.checkName(q.Name) })
	if !ok {
		return
	}
	defer s.Close()
	ctx, cancel := h.waitContext(w, r)
	defer cancel()
	m := concurrency.NewMutex(s, req.Name)
	if err := m.Lock(ctx); err != nil {
		h.coordFail(w, r, cause(ctx, err))
		return
	}
	if ctx.Err() != nil {
		// Nobody to tell it holds the lock: release it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), coordOpTimeout)
		defer cancel()
		m.Unlock(uctx)
		return
	}
	writeJSON(w, http.StatusOK, LockKey{Name: req.Name, Key: m.Key(), Token: m.Token(), Lease: req.Lease})
}

// unlock serves POST /v1/unlock with the LockKey a lock answered.
func (h *handler) unlock(w http.ResponseWriter, r *http.Request) {
	req, s, ok := coordRequest(h, w, r, func(q *LockKey) (uint64, error) { return q.Lease, h.checkName(q.Name) })
	if !ok {
		return
	}
	defer s.Close()
	m, err := concurrency.ResumeMutex(s, req.Name, req.Key, req.Token)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := m.Unlock(r.Context()); err != nil {
		h.coordFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// campaign serves POST /v1/election/campaign: it waits until the
// candidate leads (as long as the client waits).
func (h *handler) campaign(w http.ResponseWriter, r *http.Request) {
	req, s, ok := coordRequest(h, w, r, func(q *CampaignRequest) (uint64, error) {
		return q.Lease, errors.Join(h.checkName(q.Name), h.checkValue(q.Value))
	})
	if !ok {
		return
	}
	defer s.Close()
	ctx, cancel := h.waitContext(w, r)
	defer cancel()
	e := concurrency.NewElection(s, req.Name)
	if err := e.Campaign(ctx, req.Value); err != nil {
		h.coordFail(w, r, cause(ctx, err))
		return
	}
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), coordOpTimeout)
		defer cancel()
		e.Resign(rctx)
		return
	}
	writeJSON(w, http.StatusOK, LeaderKey{Name: req.Name, Key: e.Key(), Rev: e.Rev(), Lease: req.Lease})
}

// proclaim serves POST /v1/election/proclaim.
func (h *handler) proclaim(w http.ResponseWriter, r *http.Request) {
	req, s, ok := coordRequest(h, w, r, func(q *ProclaimRequest) (uint64, error) {
		return q.Leader.Lease, errors.Join(h.checkValue(q.Value), h.checkName(q.Leader.Name))
	})
	if !ok {
		return
	}
	defer s.Close()
	h.leadership(w, r, s, req.Leader, func(e *concurrency.Election) error { return e.Proclaim(r.Context(), req.Value) })
}

// resign serves POST /v1/election/resign.
func (h *handler) resign(w http.ResponseWriter, r *http.Request) {
	req, s, ok := coordRequest(h, w, r, func(q *ResignRequest) (uint64, error) { return q.Leader.Lease, h.checkName(q.Leader.Name) })
	if !ok {
		return
	}
	defer s.Close()
	h.leadership(w, r, s, req.Leader, func(e *concurrency.Election) error { return e.Resign(r.Context()) })
}

// leadership resumes the leadership l a client hands back and runs op
// with it, answering {} or the error.
func (h *handler) leadership(w http.ResponseWriter, r *http.Request, s *concurrency.Session, l LeaderKey, op func(*concurrency.Election) error) {
	e, err := concurrency.ResumeElection(s, l.Name, l.Key, l.Rev)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := op(e); err != nil {
		h.coordFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// nameQuery parses a query of exactly one "name" parameter.
func (h *handler) nameQuery(raw string) (string, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", errBadRequest("malformed query: %v", err)
	}
	for k, vs := range q {
		if k != "name" {
			return "", errBadRequest("unknown query parameter %q", k)
		}
		if len(vs) != 1 {
			return "", errBadRequest("query parameter name given %d times", len(vs))
		}
	}
	name := q.Get("name")
	return name, h.checkName(name)
}

func electionLeaderOf(l concurrency.Leader) *ElectionLeader {
	v := l.Value
	if v == nil {
		v = []byte{}
	}
	return &ElectionLeader{Key: l.Key, Value: v, Rev: l.Rev, ModIndex: l.ModIndex}
}

// leader serves GET /v1/election/leader?name=.
func (h *handler) leader(w http.ResponseWriter, r *http.Request) {
	name, err := h.nameQuery(r.URL.RawQuery)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := concurrency.CurrentLeader(r.Context(), h.db, name)
	if err != nil {
		h.coordFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, electionLeaderOf(l))
}

// observe serves GET /v1/election/observe?name=: newline-delimited JSON,
// one ObserveLine per leader (the current one first, then each change),
// until the client leaves; an error line ends it.
func (h *handler) observe(w http.ResponseWriter, r *http.Request) {
	name, err := h.nameQuery(r.URL.RawQuery)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if n := h.watches.active.Add(1); n > int64(h.opts.MaxWatchers) {
		h.watches.active.Add(-1)
		writeErrorCode(w, http.StatusServiceUnavailable, CodeBusy,
			fmt.Sprintf("httpapi: too many watchers (limit %d); retry later or on another node", h.opts.MaxWatchers))
		return
	}
	defer h.watches.active.Add(-1)
	ctx, cancel := h.waitContext(w, r)
	defer cancel()
	hd := w.Header()
	hd.Set("Content-Type", ContentTypeNDJSON)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(l ObserveLine) bool {
		b, _ := json.Marshal(l) // strings, integers and byte slices only
		if _, err := w.Write(append(b, '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for l, err := range concurrency.Observe(ctx, h.db, name) {
		if err != nil {
			if r.Context().Err() != nil {
				return // the client left
			}
			we := watchErrorOf(cause(ctx, err))
			send(ObserveLine{Error: &we})
			return
		}
		if !send(ObserveLine{Leader: electionLeaderOf(l)}) {
			return
		}
	}
}
