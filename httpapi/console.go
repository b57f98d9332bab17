package httpapi

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/yggrdb/yggr"
)

// consoleFiles is the browser console served at /ui/: plain HTML, CSS and
// JavaScript, no build step, no request to any other origin.
//
//go:embed console
var consoleFiles embed.FS

// ClusterResponse is the answer to GET /v1/cluster: every member's own
// status, as the node that answers gathered it (yggr.DB.ClusterStatus).
type ClusterResponse struct {
	Node    string              `json:"node"`
	Members []yggr.MemberStatus `json:"members"`
}

// ClusterMemberTimeout is how long GET /v1/cluster waits for a member's
// answer before it reports the member unreachable.
const ClusterMemberTimeout = time.Second

// consoleCSP keeps the console to its own files and its own API: no
// inline script, no other origin, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleHandler serves the embedded console files under /ui/.
func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil { // the embedded tree always has the directory: a bug
		panic(err)
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func consoleRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ClusterMemberTimeout)
	defer cancel()
	ms := h.db.ClusterStatus(ctx)
	if ms == nil {
		ms = []yggr.MemberStatus{}
	}
	writeJSON(w, http.StatusOK, ClusterResponse{Node: h.db.ID(), Members: ms})
}
