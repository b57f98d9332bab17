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
	"go.uber.org/goleak"
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

// startNode starts a single-node `yggr serve` on free loopback ports in a
// temporary directory (extra flags appended) and waits until it answers.
func startNode(t *testing.T, extra ...string) *localNode {
	t.Helper()
	https, err := freeAddrs("tcp", 1)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	n := &localNode{id: "n1", dir: filepath.Join(root, "data"), httpAddr: https[0], exe: yggrBin,
		logPath: filepath.Join(root, "n1.log")}
	n.args = append([]string{"serve", "--dir", n.dir, "--http-addr", n.httpAddr, "--log-level", "warn"}, extra...)
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.stop(10 * time.Second); err != nil {
			t.Error(err)
		}
	})
	waitReady(t, n, 20*time.Second)
	return n
}

// waitReady polls the node's /readyz (public even with --token) until it
// has a leader and has caught up.
func waitReady(t *testing.T, n *localNode, timeout time.Duration) {
	t.Helper()
	cl := testClient(t, n.httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := poll(ctx, func() bool {
		if !n.running() {
			return true
		}
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		return cl.Readyz(sctx) == nil
	})
	if !n.running() {
		t.Fatalf("%s exited; log:\n%s", n.id, n.logTail(30))
	}
	if err != nil {
		t.Fatalf("%s not ready after %v; log:\n%s", n.id, timeout, n.logTail(30))
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
