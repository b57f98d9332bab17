package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grantCLI runs `yggr lease grant ttl` against addr and returns the ID it
// printed.
func grantCLI(t *testing.T, addr, ttl string, extra ...string) string {
	t.Helper()
	r := runIn(t, "", append([]string{"lease", "grant", ttl, "--addr", addr}, extra...)...)
	id := strings.TrimSuffix(r.stdout, "\n")
	if _, err := strconv.ParseUint(id, 10, 64); r.code != exitOK || err != nil || r.stderr != "" {
		t.Fatalf("lease grant %s: got %v, want an ID line", ttl, r)
	}
	return id
}

// table is the text tabwriter prints for rows with two-space gaps.
func table(rows ...[]string) string {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestLeaseCommands walks a lease through the CLI: grant, attach keys with
// put --lease, ttl, list, keepalive --once, revoke; then every command on
// the revoked lease exits 3, and bad TTLs and IDs exit 2.
func TestLeaseCommands(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	id := grantCLI(t, n.httpAddr, "1m")
	other := grantCLI(t, n.httpAddr, "90s")
	runSteps(t, n.httpAddr, []step{
		{name: "put lease", args: []string{"put", "--lease", id, "svc/b", "2"}, wantStdout: str("OK\n")},
		{name: "put lease stdin", args: []string{"put", "--lease", id, "svc/a"}, stdin: "1", wantStdout: str("OK\n")},
		{name: "put lease json", args: []string{"put", "-o", "json", "--lease", id, "svc/c", "has space"}, stdoutHas: `"lease": ` + id + "\n"},
		{name: "put plain json", args: []string{"put", "-o", "json", "plain", "p"}, stdoutHas: `"index": `},
		{name: "ttl", args: []string{"lease", "ttl", id}, stdoutHas: strings.TrimSuffix(table([]string{"ID", "TTL", "REMAINING"}, []string{id, "1m0s", ""}), "\n")},
		{name: "ttl keys", args: []string{"lease", "ttl", "--keys", id}, stdoutHas: "\nKEYS\nsvc/a\nsvc/b\nsvc/c\n"},
		{name: "ttl keys none", args: []string{"lease", "ttl", "--keys", other}, stdoutHas: "\nKEYS\n"},
		{name: "ttl json", args: []string{"lease", "ttl", "-o", "json", id}, stdoutHas: "{\n  \"id\": " + id + ",\n  \"ttl_ms\": 60000,\n  \"remaining_ms\": "},
		{name: "ttl json keys", args: []string{"lease", "ttl", "-o", "json", "--keys", id}, stdoutHas: "\"keys\": [\n    \"c3ZjL2E=\",\n    \"c3ZjL2I=\",\n    \"c3ZjL2M=\"\n  ]\n}\n"},
		{name: "list", args: []string{"lease", "list"}, wantStdout: str(table([]string{"ID", "TTL"}, []string{id, "1m0s"}, []string{other, "1m30s"}))},
		{name: "list json", args: []string{"lease", "list", "-o", "json"},
			wantStdout: str("[\n  {\n    \"id\": " + id + ",\n    \"ttl_ms\": 60000\n  },\n  {\n    \"id\": " + other + ",\n    \"ttl_ms\": 90000\n  }\n]\n")},
		{name: "keepalive once", args: []string{"lease", "keepalive", "--once", id}, wantStdout: str("1m0s\n")},
		{name: "keepalive once json", args: []string{"lease", "keepalive", "--once", "-o", "json", id}, wantStdout: str("{\n  \"id\": " + id + ",\n  \"ttl_ms\": 60000\n}\n")},
		{name: "revoke", args: []string{"lease", "revoke", id}, wantStdout: str("OK\n")},
		{name: "key revoked", args: []string{"get", "svc/a"}, wantCode: exitNotFound},
		{name: "key revoked too", args: []string{"get", "svc/c"}, wantCode: exitNotFound},
		{name: "plain key stays", args: []string{"get", "plain"}, wantStdout: str("p")},
		{name: "revoke again", args: []string{"lease", "revoke", id}, wantCode: exitNotFound, wantStdout: str(""), stderrHas: "lease " + id + ": "},
		{name: "keepalive revoked", args: []string{"lease", "keepalive", id}, wantCode: exitNotFound, wantStdout: str(""), stderrHas: "lease_not_found"},
		{name: "keepalive once revoked", args: []string{"lease", "keepalive", "--once", id}, wantCode: exitNotFound, wantStdout: str("")},
		{name: "ttl revoked", args: []string{"lease", "ttl", id}, wantCode: exitNotFound, wantStdout: str(""), stderrHas: "lease not found"},
		{name: "put revoked", args: []string{"put", "--lease", id, "svc/d", "4"}, wantCode: exitNotFound, wantStdout: str(""), stderrHas: "lease " + id + ": "},
		{name: "nothing put", args: []string{"get", "svc/d"}, wantCode: exitNotFound},
		{name: "ttl unknown", args: []string{"lease", "ttl", "99999999"}, wantCode: exitNotFound},
		{name: "revoke 0", args: []string{"lease", "revoke", "0"}, wantCode: exitNotFound},
		{name: "revoke json", args: []string{"lease", "revoke", "-o", "json", other}, wantStdout: str("{\n  \"revoked\": " + other + "\n}\n")},
		{name: "list none", args: []string{"lease", "list"}, wantStdout: str("ID  TTL\n")},
		{name: "list none json", args: []string{"lease", "list", "-o", "json"}, wantStdout: str("[]\n")},
		{name: "grant 0", args: []string{"lease", "grant", "0s"}, wantCode: exitUsage, stderrHas: "a lease TTL must be from 1ms to 720h0m0s"},
		{name: "grant sub-ms", args: []string{"lease", "grant", "10us"}, wantCode: exitUsage},
		{name: "grant negative", args: []string{"lease", "grant", "--", "-5s"}, wantCode: exitUsage},
		{name: "grant too long", args: []string{"lease", "grant", "721h"}, wantCode: exitUsage},
		{name: "grant not a duration", args: []string{"lease", "grant", "10"}, wantCode: exitUsage},
		{name: "grant missing", args: []string{"lease", "grant"}, wantCode: exitUsage},
		{name: "ttl bad id", args: []string{"lease", "ttl", "abc"}, wantCode: exitUsage},
		{name: "revoke negative id", args: []string{"lease", "revoke", "--", "-1"}, wantCode: exitUsage},
		{name: "keepalive id overflow", args: []string{"lease", "keepalive", "18446744073709551616"}, wantCode: exitUsage},
		{name: "lease alone", args: []string{"lease"}, wantCode: exitUsage},
		{name: "put ttl 0", args: []string{"put", "--ttl", "0s", "k", "v"}, wantCode: exitUsage, stderrHas: "--ttl 0s"},
		{name: "put ttl negative", args: []string{"put", "--ttl=-1s", "k", "v"}, wantCode: exitUsage},
		{name: "put ttl too long", args: []string{"put", "--ttl", "8760h", "k", "v"}, wantCode: exitUsage},
		{name: "put ttl and lease", args: []string{"put", "--ttl", "10s", "--lease", "5", "k", "v"}, wantCode: exitUsage},
		{name: "put lease bad", args: []string{"put", "--lease", "x", "k", "v"}, wantCode: exitUsage},
		{name: "no key from bad puts", args: []string{"get", "k"}, wantCode: exitNotFound},
		{name: "no lease from bad puts", args: []string{"lease", "list"}, wantStdout: str("ID  TTL\n")},
	})
}

// TestPutTTL: put --ttl grants a lease, attaches the key and prints the
// lease's ID; with nobody keeping it alive, the key vanishes after the TTL
// and the lease is gone. A put --ttl that fails leaves no lease behind.
func TestPutTTL(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	r := runIn(t, "", "put", "--ttl", "300ms", "eph", "v", "--addr", n.httpAddr)
	id := strings.TrimSuffix(r.stdout, "\n")
	if _, err := strconv.ParseUint(id, 10, 64); r.code != exitOK || err != nil || r.stderr != "" {
		t.Fatalf("put --ttl: got %v, want the lease ID", r)
	}
	r = runIn(t, "", "put", "-o", "json", "--ttl", "1h", "long", "v", "--addr", n.httpAddr)
	if r.code != exitOK || !strings.Contains(r.stdout, `"lease": `) || !strings.Contains(r.stdout, `"index": `) {
		t.Errorf("put -o json --ttl: got %v, want index and lease", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := poll(ctx, func() bool { return runIn(t, "", "get", "eph", "--addr", n.httpAddr).code == exitNotFound }); err != nil {
		t.Fatalf("the key put with --ttl 300ms is still there: %v", err)
	}
	runSteps(t, n.httpAddr, []step{
		{name: "lease gone", args: []string{"lease", "ttl", id}, wantCode: exitNotFound},
		{name: "keepalive gone", args: []string{"lease", "keepalive", "--once", id}, wantCode: exitNotFound, stderrHas: "lease " + id},
		{name: "long one stays", args: []string{"get", "long"}, wantStdout: str("v")},
		// The server refuses the value (too large) after the grant: the
		// lease is revoked again.
		{name: "failed put", args: []string{"put", "--ttl", "1h", "big"}, stdin: strings.Repeat("x", 2<<20), wantCode: exitError, stderrHas: "too_large"},
	})
	r = runIn(t, "", "lease", "list", "--addr", n.httpAddr)
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "1h0m0s") {
		t.Errorf("lease list after a failed put --ttl: %v, want only the 1h lease of key long", r)
	}
}

// TestLeaseKeepaliveCommand: `yggr lease keepalive ID` keeps a short lease
// alive past its TTL until interrupted (exit 0, the TTL printed once),
// after which the lease expires; and it exits 3 when the lease is revoked
// under it.
func TestLeaseKeepaliveCommand(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	// 2 s, not 600 ms: the command keeps the lease alive every TTL/3, and
	// 600 ms lapsed on a loaded machine (this test runs in parallel).
	const ttl = 2 * time.Second
	r := runIn(t, "", "put", "--ttl", ttl.String(), "alive", "v", "--addr", n.httpAddr)
	id := strings.TrimSuffix(r.stdout, "\n")
	if r.code != exitOK {
		t.Fatalf("put --ttl: %v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kctx, interrupt := context.WithCancel(ctx)
	done := make(chan result, 1)
	// The command under test; ends when interrupt cancels kctx (Ctrl-C).
	go func() { done <- runCtx(kctx, "lease", "keepalive", id, "--addr", n.httpAddr) }()
	start := time.Now()
	err := poll(ctx, func() bool {
		if r := runIn(t, "", "get", "alive", "--consistency", "stale", "--addr", n.httpAddr); r.code != exitOK {
			t.Fatalf("the kept-alive key is gone after %v: %v", time.Since(start), r)
		}
		return time.Since(start) > ttl+ttl/2
	})
	if err != nil {
		t.Fatal(err)
	}
	interrupt()
	if r := <-done; r.code != exitOK || r.stdout != ttl.String()+"\n" || r.stderr != "" {
		t.Errorf("lease keepalive interrupted: got %v, want exit 0 and the TTL once", r)
	}
	if err := poll(ctx, func() bool { return runIn(t, "", "get", "alive", "--addr", n.httpAddr).code == exitNotFound }); err != nil {
		t.Fatalf("the key is still there after the keepalive stopped: %v", err)
	}

	// Revoked under a running keepalive: it exits 3 saying so, at its
	// next keepalive (TTL/3: 2 s, where a 1 min lease kept the test
	// waiting 20 s whenever the first keepalive beat the revoke).
	id = grantCLI(t, n.httpAddr, "6s")
	// The command under test; ends when the lease is revoked.
	go func() { done <- runCtx(ctx, "lease", "keepalive", id, "--addr", n.httpAddr) }()
	if r := runIn(t, "", "lease", "revoke", id, "--addr", n.httpAddr); r.code != exitOK {
		t.Fatalf("lease revoke: %v", r)
	}
	if r := <-done; r.code != exitNotFound || r.stdout != "6s\n" && r.stdout != "" || !strings.Contains(r.stderr, "lease "+id) || strings.Count(r.stderr, "lease "+id) > 1 {
		t.Errorf("lease keepalive of a revoked lease: got %v, want exit 3 naming the lease once", r)
	}
}

// runCtx runs the CLI in this process under ctx, as main does under a
// signal context.
func runCtx(ctx context.Context, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}
