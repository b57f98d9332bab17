package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/yggrdb/yggr"
)

// MembersResponse is the answer to GET /v1/members.
type MembersResponse struct {
	Members []yggr.Member `json:"members"`
}

// AddMemberRequest is the body of POST /v1/members: add id at its peer
// address addr, as a learner (promote it later) or directly as a voter.
type AddMemberRequest struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	Learner bool   `json:"learner"`
}

// TransferRequest is the body of POST /v1/leader/transfer; an empty To
// lets the leader pick an up-to-date voter.
type TransferRequest struct {
	To string `json:"to"`
}

// TransferResponse is the answer to POST /v1/leader/transfer.
type TransferResponse struct {
	Leader string `json:"leader"`
}

// SnapshotResponse is the answer to POST /v1/snapshot.
type SnapshotResponse struct {
	Index uint64 `json:"index"`
}

// ReadyLagEntries is how far the applied index may trail the commit index
// for /readyz to answer 200.
const ReadyLagEntries = 1000

// decodeBody reads one small JSON object from the request into v.
func (h *handler) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeStrict(http.MaxBytesReader(w, r.Body, min(h.opts.MaxBodyBytes, 64<<10)), v, "JSON body")
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.db.Status())
}

func (h *handler) members(w http.ResponseWriter, r *http.Request) {
	ms := h.db.Status().Members
	if ms == nil {
		ms = []yggr.Member{}
	}
	writeJSON(w, http.StatusOK, MembersResponse{Members: ms})
}

func (h *handler) addMember(w http.ResponseWriter, r *http.Request) {
	var req AddMemberRequest
	if err := h.decodeBody(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	// Whatever the token setting, a new member must prove it holds the
	// cluster's credentials before the cluster adds it.
	if err := h.db.VerifyPeer(r.Context(), req.ID, req.Addr); err != nil {
		h.fail(w, r, err)
		return
	}
	var err error
	if req.Learner {
		err = h.db.AddLearner(r.Context(), req.ID, req.Addr)
	} else {
		err = h.db.AddVoter(r.Context(), req.ID, req.Addr)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *handler) promoteMember(w http.ResponseWriter, r *http.Request) {
	if err := h.db.Promote(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *handler) removeMember(w http.ResponseWriter, r *http.Request) {
	if err := h.db.RemoveMember(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *handler) transferLeader(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if err := h.decodeBody(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.db.TransferLeadership(r.Context(), req.To); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TransferResponse{Leader: h.db.Status().Leader})
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	index, err := h.db.Snapshot(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SnapshotResponse{Index: index})
}

// backup streams db.Backup. The status is sent with the first byte, so a
// failure after that aborts the response (the client sees a truncated
// body); a complete backup ends with the trailer X-Yggr-Index.
func (h *handler) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", HeaderIndex)
	bw := &backupWriter{w: w}
	index, err := h.db.Backup(r.Context(), bw)
	if err != nil {
		if !bw.started {
			w.Header().Del("Trailer")
			h.fail(w, r, err)
			return
		}
		h.opts.Logger.Warn("httpapi: backup failed while streaming", "err", err)
		panic(http.ErrAbortHandler) // abort the connection: the body must not look complete
	}
	if !bw.started {
		bw.start()
	}
	w.Header().Set(HeaderIndex, strconv.FormatUint(index, 10))
}

// backupWriter sends the 200 header with the first byte of the backup.
type backupWriter struct {
	w       http.ResponseWriter
	started bool
}

func (b *backupWriter) start() {
	b.started = true
	b.w.Header().Set("Content-Type", "application/octet-stream")
	b.w.Header().Set("Content-Disposition", `attachment; filename="yggr.backup"`)
	b.w.WriteHeader(http.StatusOK)
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if !b.started {
		b.start()
	}
	return b.w.Write(p)
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	st := h.db.Status()
	var lag uint64
	if st.Commit > st.Applied {
		lag = st.Commit - st.Applied
	}
	switch {
	case st.StorageError != "":
		writeErrorCode(w, http.StatusServiceUnavailable, CodeStorage, "httpapi: not ready: "+st.StorageError)
	case st.StorageStalled:
		writeErrorCode(w, http.StatusServiceUnavailable, CodeStorageStalled, "httpapi: not ready: the disk has not finished a write for an election timeout")
	case st.Leader == "":
		writeErrorCode(w, http.StatusServiceUnavailable, CodeNoLeader, "httpapi: not ready: no leader known")
	case lag > ReadyLagEntries:
		writeErrorCode(w, http.StatusServiceUnavailable, CodeCatchingUp,
			fmt.Sprintf("httpapi: not ready: applied index %d trails commit index %d", st.Applied, st.Commit))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "leader": st.Leader, "applied": st.Applied, "commit": st.Commit})
	}
}
