package httpapi

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The console's files are served from the binary without a token (they
// hold no data), with a policy that keeps the page to its own origin.
func TestConsoleFiles(t *testing.T) {
	srv := serve(t, openDB(t), Options{Token: "s3cret"})
	for path, want := range map[string]struct{ ctype, contains string }{
		"/ui/":            {"text/html; charset=utf-8", `<script src="console.js" defer></script>`},
		"/ui/console.js":  {"text/javascript; charset=utf-8", "function el(tag"},
		"/ui/console.css": {"text/css; charset=utf-8", "#banner"},
	} {
		r := send(t, srv, http.MethodGet, path, nil, nil)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), want.contains) {
			t.Errorf("GET %s: status %d, body %.80q; want 200 with %q", path, r.status, r.body, want.contains)
			continue
		}
		if got := r.header.Get("Content-Type"); got != want.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want.ctype)
		}
		if got := r.header.Get("Content-Security-Policy"); got != consoleCSP || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q, nosniff %q; want the console policy and nosniff", path, got, r.header.Get("X-Content-Type-Options"))
		}
	}
	// /ui redirects to the directory; a missing file is a 404; other
	// methods are refused; the API itself still needs the token.
	r := send(t, srv, http.MethodGet, "/ui", nil, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "<title>yggr console</title>") {
		t.Errorf("GET /ui (following the redirect): status %d; want the page", r.status)
	}
	if r := send(t, srv, http.MethodGet, "/ui/nope.js", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("GET /ui/nope.js: status %d, want 404", r.status)
	}
	if r := send(t, srv, http.MethodPost, "/ui/", nil, nil); r.status != http.StatusUnauthorized && r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: status %d, want 401 or 405", r.status)
	}
	if r := send(t, srv, http.MethodGet, "/v1/cluster", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1/cluster without the token: status %d, want 401", r.status)
	}
}

// The page never turns data into HTML and never names another origin: the
// embedded sources are checked for the constructs that would.
func TestConsoleSourcesStayLocalAndEscaped(t *testing.T) {
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|https?://`)
	err := fs.WalkDir(consoleFiles, "console", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(path)
		if err != nil {
			return err
		}
		if m := forbidden.FindString(string(b)); m != "" {
			t.Errorf("%s uses %q: the console must build DOM from text nodes and load nothing from elsewhere", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClusterEndpoint(t *testing.T) {
	db := openDB(t)
	// A single node leads as soon as it opens, but its commit index is 0
	// until its first entry is durable: a put waits for a commit.
	if err := db.Put(testCtx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, db, Options{Token: "s3cret"})
	r := send(t, srv, http.MethodGet, "/v1/cluster", nil, http.Header{"Authorization": {"Bearer s3cret"}})
	got := decode[ClusterResponse](t, r)
	if got.Node != db.ID() || len(got.Members) != 1 {
		t.Fatalf("GET /v1/cluster = %+v; want node %s and one member", got, db.ID())
	}
	m := got.Members[0]
	if !m.Self || !m.Reachable || m.Role != "leader" || m.Leader != db.ID() || m.Term == 0 || m.Commit == 0 || m.Lag != 0 || !m.Voter {
		t.Errorf("member %+v: want itself, reachable voter and leader, term and commit set, no lag", m)
	}
	for _, field := range []string{`"id"`, `"addr"`, `"voter"`, `"self"`, `"reachable"`, `"role"`, `"term"`, `"commit"`, `"applied"`, `"last_index"`, `"lag"`} {
		if !strings.Contains(string(r.body), field) {
			t.Errorf("GET /v1/cluster body %s lacks %s", r.body, field)
		}
	}
}
