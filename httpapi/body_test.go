package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

// TestClientHangUpIs499: a client that hangs up in the middle of a
// request body is counted under code="499" in the metrics and logged as a
// client disconnect, never as a 500, on every route that reads a body.
func TestClientHangUpIs499(t *testing.T) {
	db := openDB(t)
	var logs testutil.LogBuffer
	srv := httptest.NewServer(NewHandler(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	routes := []struct{ method, path, route string }{
		{"PUT", "/v1/kv/k", "PUT /v1/kv/{key}"},
		{"POST", "/v1/txn", "POST /v1/txn"},
		{"POST", "/v1/members", "POST /v1/members"},
	}
	for _, r := range routes {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, r.method+" "+r.path+" HTTP/1.1\r\nHost: yggr\r\nContent-Length: 100\r\n\r\n{\"a"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	var text string
	testutil.WaitFor(t, "the hang-ups in the metrics", func() bool {
		text = string(send(t, srv, "GET", "/metrics", nil, nil).body)
		for _, r := range routes {
			if !strings.Contains(text, `yggr_http_requests_total{code="499",route="`+r.route+`"} 1`) {
				return false
			}
		}
		return true
	})
	if strings.Contains(text, `code="500"`) {
		t.Errorf("a client hang-up was counted as a 500:\n%s", text)
	}
	if log := logs.String(); strings.Contains(log, "status=500") || !strings.Contains(log, "status=499") {
		t.Errorf("log: got %q, want status=499 records and no status=500", log)
	}
}

// TestCanceledByClientIs499: a request whose context ended because the
// client went away is recorded as 499; one cancelled for another reason
// keeps its 504.
func TestCanceledByClientIs499(t *testing.T) {
	h := &handler{opts: Options{}.withDefaults()}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want int
	}{
		{"client gone", gone, StatusClientClosed},
		{"client still there", context.Background(), http.StatusGatewayTimeout},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("PUT", "/v1/kv/k", nil).WithContext(tt.ctx)
		h.fail(rec, r, fmt.Errorf("proposing: %w", context.Canceled))
		if rec.Code != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, rec.Code, tt.want)
		}
	}
}
