package httpapi

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"testing"
)

// TestMalformedRequestIsJSON: a request net/http refuses before the
// handler (bad percent-encoding in a key's path, a malformed request line)
// gets a 400 with a JSON error body when served through
// JSONErrorListener.
func TestMalformedRequestIsJSON(t *testing.T) {
	db := openDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(db, Options{})}
	// Owned by the test; ends when srv.Close closes the listener.
	go srv.Serve(JSONErrorListener(ln))
	t.Cleanup(func() { srv.Close() })
	for _, raw := range []string{
		"GET /v1/kv/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /v1/kv/a%2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		var body errorBody
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" || err != nil || body.Error.Code != CodeInvalid {
			t.Errorf("%q: got %d %s, body %+v (%v); want 400 with a JSON error, code invalid", raw, resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
		}
	}
	// A well-formed request passes through untouched.
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz through the listener: got %d, want 200", resp.StatusCode)
	}
}
