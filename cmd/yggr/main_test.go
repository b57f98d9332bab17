package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/httpapi"
	"github.com/yggrdb/yggr/internal/testutil"
	"go.uber.org/goleak"

	"github.com/yggrdb/yggr/internal/freeport"
)

// yggrBin is the yggr binary built once by TestMain.
var yggrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "yggr-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	yggrBin = filepath.Join(dir, "yggr")
	// A demo run in this process starts its nodes from the built binary.
	executable = func() (string, error) { return yggrBin, nil }
	build := exec.Command("go", "build", "-o", yggrBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building yggr:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	// Commands run in this process must leave no goroutine behind.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goroutine leak:", err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one CLI run produced.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runIn runs a yggr command in this process (run, as main does, but with
// buffers for the streams), bounded by 60s. It is much cheaper than
// starting the binary; runCLI covers what only the binary can show
// (environment variables, os.Exit codes, signals).
func runIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &env{ctx: ctx, stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr})
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// runCLI runs the yggr binary with args and stdin, without any YGGR_
// variables from the test's environment (plus env), bounded by 60s.
func runCLI(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, yggrBin, args...)
	cmd.Env = append(childEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("yggr %v: %v", args, err)
	}
	return r
}

// startNode starts a single-node `yggr serve` in this process on a free
// loopback port in a temporary directory (extra flags appended), waits
// until it answers, and at cleanup stops it and checks that it exited 0.
func startNode(t *testing.T, extra ...string) *servedNode {
	t.Helper()
	https, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	n := serveIn(t, append([]string{"--dir", dir, "--http-addr", https[0], "--log-level", "warn"}, extra...)...)
	n.httpAddr, n.dir = https[0], dir
	waitReady(t, n, 20*time.Second)
	return n
}

// servedNode is a `yggr serve` run in this process by serveIn: run, as
// main does, with a context the test cancels instead of a signal.
type servedNode struct {
	httpAddr string // set by the caller of serveIn
	dir      string // set by the caller of serveIn
	cacert   string // the CA of an HTTPS API; set by the caller of serveIn
	stdout   testutil.LogBuffer
	stderr   testutil.LogBuffer // the log
	cancel   context.CancelFunc
	done     chan struct{} // closed when run has returned
	code     int           // run's exit code; read only after done is closed
}

// peerAddrs reserves an HTTP and a Raft address for each of ids (in
// order) and returns them with the --peers value naming every id.
func peerAddrs(t *testing.T, ids ...string) (https, rafts []string, peers string) {
	t.Helper()
	https, err := freeport.TCP(len(ids))
	if err != nil {
		t.Fatal(err)
	}
	if rafts, err = freeport.UDP(len(ids)); err != nil {
		t.Fatal(err)
	}
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = id + "=" + rafts[i]
	}
	return https, rafts, strings.Join(list, ",")
}

// serveIn runs `yggr serve args...` in this process without waiting for
// it to answer. A cleanup stops it (if the test did not) and checks that
// it returned within 20s, with exit code 0 if it was still running.
func serveIn(t *testing.T, args ...string) *servedNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &servedNode{cancel: cancel, done: make(chan struct{})}
	// Owned by the test; ends when serve returns: by itself on an error,
	// else when stop cancels ctx (a cleanup makes sure it does).
	go func() {
		defer close(n.done)
		n.code = run(ctx, append([]string{"serve"}, args...),
			&env{ctx: ctx, stdin: strings.NewReader(""), stdout: &n.stdout, stderr: &n.stderr})
	}()
	t.Cleanup(func() {
		// A serve that ended by itself was the test's to check.
		wasRunning := n.running()
		if code := n.stop(t); wasRunning && code != exitOK && !t.Failed() {
			t.Errorf("yggr serve %v: got exit %d at the end, want 0; log:\n%s", args, code, n.logTail(30))
		}
	})
	return n
}

// stop cancels the serve's context and returns its exit code, or -1 if it
// did not return within 20s.
func (n *servedNode) stop(t *testing.T) int {
	t.Helper()
	n.cancel()
	select {
	case <-n.done:
		return n.code
	case <-time.After(20 * time.Second):
		t.Errorf("serve did not return within 20s of being stopped; log:\n%s", n.logTail(30))
		return -1
	}
}

// wait waits (at most timeout) for the serve to return by itself and
// returns its exit code, or -1 if it is still running.
func (n *servedNode) wait(timeout time.Duration) int {
	select {
	case <-n.done:
		return n.code
	case <-time.After(timeout):
		return -1
	}
}

func (n *servedNode) running() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (n *servedNode) endpoint() string { return n.httpAddr }

func (n *servedNode) logTail(lines int) string {
	ls := strings.Split(strings.TrimRight(n.stderr.String(), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func (n *localNode) endpoint() string { return n.httpAddr }

// server is a `yggr serve` under test: a child process (localNode) or one
// in this process (servedNode).
type server interface {
	running() bool
	endpoint() string
	logTail(lines int) string
}

// waitReady polls the node's /readyz (public even with --token) until it
// has a leader and has caught up.
func waitReady(t *testing.T, n server, timeout time.Duration) {
	t.Helper()
	f := clientFlags{Addr: n.endpoint(), Timeout: 2 * time.Second}
	if s, ok := n.(*servedNode); ok {
		f.CACert = s.cacert
	}
	cl, err := f.client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = poll(ctx, func() bool {
		if !n.running() {
			return true
		}
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		return cl.Readyz(sctx) == nil
	})
	if !n.running() {
		t.Fatalf("%s exited; log:\n%s", n.endpoint(), n.logTail(30))
	}
	if err != nil {
		t.Fatalf("%s not ready after %v; log:\n%s", n.endpoint(), timeout, n.logTail(30))
	}
}

// testClient is a Go client of the given endpoints with short attempts.
func testClient(t *testing.T, endpoints ...string) *httpapi.Client {
	t.Helper()
	cl, err := httpapi.NewClient(endpoints, httpapi.ClientOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
