package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/freeport"
)

// goroutines reads go_goroutines from a node's /metrics.
func goroutines(addr string) (int, error) {
	// No keep-alive: an idle connection would hold one of the server's
	// connection slots.
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no go_goroutines in /metrics (%v)", sc.Err())
}

// slowPut opens a connection and sends a PUT whose body is shorter than
// its Content-Length, then stops sending.
func slowPut(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "PUT /v1/kv/slow HTTP/1.1\r\nHost: yggr\r\nContent-Length: 1000\r\n\r\nonly a few bytes"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestServeSlowBodies: a client that sends less body than its
// Content-Length is answered 408 and disconnected once --request-timeout
// has passed, and the goroutines it held are released; --http-max-conns
// caps the connections served at once.
func TestServeSlowBodies(t *testing.T) {
	t.Parallel()
	https, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	const maxConns, timeout = 6, time.Second
	n := &localNode{id: "n1", httpAddr: https[0], exe: yggrBin, workDir: wd, logPath: filepath.Join(wd, "n1.log"),
		args: []string{"serve", "--http-addr", https[0], "--dir", filepath.Join(wd, "data"), "--request-timeout", timeout.String(),
			"--http-max-conns", strconv.Itoa(maxConns), "--http-idle-timeout", "2s"}}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.kill() })
	waitReady(t, n, 20*time.Second)
	base, err := goroutines(n.httpAddr)
	if err != nil {
		t.Fatal(err)
	}

	// Fill every connection slot with a slow body, then ask for /healthz
	// on one more connection: it is accepted only once a slow one is
	// closed.
	// The slots can free no sooner than --request-timeout after the first
	// slow connection was dialed: /healthz is timed from then, so that
	// slow dials on a loaded machine do not eat into the bound below.
	dialing := time.Now()
	var conns []net.Conn
	for range maxConns {
		conns = append(conns, slowPut(t, n.httpAddr))
	}
	type answer struct {
		at  time.Time
		err error
	}
	healthz := make(chan answer, 1)
	// Owned by the test; ends within its client's 20s timeout.
	go func() {
		cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + n.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		healthz <- answer{time.Now(), err}
	}()

	start := time.Now()
	var firstClosed time.Time
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		got, err := io.ReadAll(c)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("slow connection %d: not closed by the server (%v after %v); got %q", i, err, took, got)
		}
		if !strings.HasPrefix(string(got), "HTTP/1.1 408 ") || !strings.Contains(string(got), `"code":"request_timeout"`) {
			t.Errorf("slow connection %d: got %q, want a 408 request_timeout", i, got)
		}
		if firstClosed.IsZero() {
			firstClosed = time.Now()
		}
	}
	if took := time.Since(start); took > 10*timeout {
		t.Errorf("slow connections closed after %v, want about --request-timeout %v", took, timeout)
	}
	a := <-healthz
	if a.err != nil {
		t.Fatalf("/healthz: %v", a.err)
	}
	// It could not be served before --request-timeout freed a slot (the
	// reader above notes a close a little after the server makes it, so
	// compare with the timeout rather than with that instant).
	if took := a.at.Sub(dialing); took < timeout/2 {
		t.Errorf("/healthz answered %v after the first slow dial, before --request-timeout %v freed any of the %d slots (first close seen at %v): --http-max-conns not applied",
			took, timeout, maxConns, firstClosed.Sub(dialing))
	}

	// The goroutines of the slow connections are gone.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var now int
	if err := poll(ctx, func() bool {
		now, err = goroutines(n.httpAddr)
		return err == nil && now <= base+2
	}); err != nil {
		t.Errorf("goroutines: %d before the slow clients, %d after they were disconnected (%v)", base, now, err)
	}
	if err := n.stop(10 * time.Second); err != nil {
		t.Error(err)
	}
}
