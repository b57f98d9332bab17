package httpapi

import (
	"fmt"
	"net"
)

// net/http answers a request it cannot parse (a malformed request line or
// header, such as bad percent-encoding in the path: GET /v1/kv/%zz) itself,
// before any handler runs, with a plain-text "400 Bad Request" written in
// one piece to the connection. stdlibBadRequest is that answer.
const stdlibBadRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"

// badRequestJSON replaces it: the same status, the API's JSON error body.
var badRequestJSON = func() []byte {
	body := `{"error":{"code":"` + CodeInvalid + `","message":"httpapi: malformed request: the request line or a header does not parse (for example bad percent-encoding in the path: escape '%' as %25)"}}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

// JSONErrorListener wraps a plain-TCP listener of an http.Server serving a
// Handler so that the requests net/http refuses before the handler sees
// them get a JSON error body like every other error, not net/http's plain
// text. (Over TLS the listener sees only ciphertext: there, those answers
// stay plain text.)
func JSONErrorListener(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return jsonErrorConn{c}, nil
}

type jsonErrorConn struct{ net.Conn }

// Write passes everything through but net/http's own 400, which it
// replaces.
func (c jsonErrorConn) Write(p []byte) (int, error) {
	if len(p) == len(stdlibBadRequest) && string(p) == stdlibBadRequest {
		if _, err := c.Conn.Write(badRequestJSON); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}
