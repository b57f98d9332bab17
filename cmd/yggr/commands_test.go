package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/internal/freeport"
)

// step is one CLI run of a scripted session and what it must produce.
type step struct {
	name       string
	args       []string
	stdin      string
	wantCode   int
	wantStdout *string // exact, when set
	stdoutHas  string  // substring, when set
	stderrHas  string  // substring, when set
}

func str(s string) *string { return &s }

// runSteps runs the steps in order (in this process) against addr.
func runSteps(t *testing.T, addr string, steps []step) {
	t.Helper()
	for _, s := range steps {
		args := slices.Clone(s.args)
		at := len(args) // --addr goes last, or before a "--" that ends yggr's flags
		if i := slices.Index(args, "--"); i >= 0 {
			at = i
		}
		r := runIn(t, s.stdin, slices.Insert(args, at, "--addr", addr)...)
		if r.code != s.wantCode {
			t.Errorf("%s: yggr %v: got exit %d, want %d (%v)", s.name, s.args, r.code, s.wantCode, r)
			continue
		}
		if s.wantStdout != nil && r.stdout != *s.wantStdout {
			t.Errorf("%s: yggr %v: stdout mismatch (-want +got):\n%s", s.name, s.args, cmp.Diff(*s.wantStdout, r.stdout))
		}
		if s.stdoutHas != "" && !strings.Contains(r.stdout, s.stdoutHas) {
			t.Errorf("%s: yggr %v: got stdout %q, want it to contain %q", s.name, s.args, r.stdout, s.stdoutHas)
		}
		if s.stderrHas != "" && !strings.Contains(r.stderr, s.stderrHas) {
			t.Errorf("%s: yggr %v: got stderr %q, want it to contain %q", s.name, s.args, r.stderr, s.stderrHas)
		}
		if prefix := errorPrefix(s.args); s.wantCode != exitOK && !strings.HasPrefix(r.stderr, prefix) {
			t.Errorf("%s: yggr %v: got stderr %q, want it to start with %q", s.name, s.args, r.stderr, prefix)
		}
		if s.wantCode == exitOK && r.stderr != "" {
			t.Errorf("%s: yggr %v: got stderr %q, want none", s.name, s.args, r.stderr)
		}
	}
}

// errorPrefix is how a failing command's stderr starts: a JSON object
// under -o json, else "Error: ".
func errorPrefix(args []string) string {
	if argsWantJSON(args) {
		return "{\n  \"error\": {"
	}
	return "Error: "
}

func TestKVCommands(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	txnGetPut := `{"compare":[{"key":"Yg==","target":"value","value":"Mg=="}],
		"success":[{"op":"get","key":"Yg=="},{"op":"put","key":"eg==","value":"MQ=="}]}`
	txnFile := filepath.Join(t.TempDir(), "txn.json")
	if err := os.WriteFile(txnFile, []byte(`{"compare":[{"key":"Yg==","target":"missing"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	runSteps(t, n.httpAddr, []step{
		{name: "put arg", args: []string{"put", "a", "1"}, wantStdout: str("OK\n")},
		{name: "put arg b", args: []string{"put", "b", "2"}, wantStdout: str("OK\n")},
		{name: "put stdin", args: []string{"put", "c"}, stdin: "three\nlines\n", wantStdout: str("OK\n")},
		{name: "put json", args: []string{"put", "-o", "json", "d", "4"}, stdoutHas: `"index":`},
		{name: "get raw", args: []string{"get", "c"}, wantStdout: str("three\nlines\n")},
		{name: "get stale", args: []string{"get", "--consistency", "stale", "a"}, wantStdout: str("1")},
		{name: "get json", args: []string{"get", "-o", "json", "a"}, stdoutHas: `"value": "MQ=="`},
		{name: "get missing", args: []string{"get", "nope"}, wantCode: exitNotFound, wantStdout: str(""), stderrHas: `key "nope" not found`},
		{name: "del", args: []string{"del", "d"}, wantStdout: str("1\n")},
		{name: "del missing", args: []string{"del", "d"}, wantStdout: str("0\n")},
		{name: "get deleted", args: []string{"get", "d"}, wantCode: exitNotFound},
		{name: "scan all", args: []string{"scan"}, wantStdout: str("a\n1\nb\n2\nc\n\"three\\nlines\\n\"\n")},
		{name: "scan prefix keys", args: []string{"scan", "--prefix", "b", "--keys-only"}, wantStdout: str("b\n")},
		{name: "scan range limit", args: []string{"scan", "--start", "a", "--end", "c", "--limit", "1", "--keys-only"}, wantStdout: str("a\n")},
		{name: "scan json", args: []string{"scan", "-o", "json", "--prefix", "zzz"}, wantStdout: str("{\n  \"items\": [],\n  \"more\": false\n}\n")},
		{name: "cas ok", args: []string{"cas", "a", "1", "11"}, wantStdout: str("OK\n")},
		{name: "cas fails", args: []string{"cas", "a", "1", "12"}, wantCode: exitError, wantStdout: str(""), stderrHas: "compare failed"},
		{name: "cas value", args: []string{"get", "a"}, wantStdout: str("11")},
		{name: "cas missing ok", args: []string{"cas", "--missing", "m", "new"}, wantStdout: str("OK\n")},
		{name: "cas missing fails", args: []string{"cas", "--missing", "m", "again"}, wantCode: exitError, stderrHas: "exists"},
		{name: "cas too few", args: []string{"cas", "a", "1"}, wantCode: exitUsage, stderrHas: "KEY OLD NEW"},
		{name: "cas missing too many", args: []string{"cas", "--missing", "a", "1", "2"}, wantCode: exitUsage},
		{name: "txn stdin", args: []string{"txn"}, stdin: txnGetPut, wantStdout: str("SUCCEEDED\n2\n")},
		{name: "txn applied", args: []string{"get", "z"}, wantStdout: str("1")},
		{name: "txn file json", args: []string{"txn", "-o", "json", "--file", txnFile}, stdoutHas: `"succeeded": false`},
		{name: "txn bad json", args: []string{"txn"}, stdin: "{", wantCode: exitUsage, stderrHas: "bad JSON"},
		{name: "put too large", args: []string{"put", "big"}, stdin: strings.Repeat("x", 2<<20), wantCode: exitError, stderrHas: "too_large"},
		{name: "txn bad target", args: []string{"txn"}, stdin: `{"compare":[{"key":"Yg==","target":"bogus"}]}`, wantCode: exitUsage},
	})
}

// TestClusterCommandsSingleNode checks status and members output, text
// and JSON, on a single node.
func TestClusterCommandsSingleNode(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	runSteps(t, n.httpAddr, []step{
		{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")},
		{name: "members", args: []string{"members", "list"}, wantStdout: str("ID  ADDR  KIND\nn1        voter\n")},
		{name: "members default", args: []string{"members"}, wantStdout: str("ID  ADDR  KIND\nn1        voter\n")},
		{name: "members json", args: []string{"members", "list", "-o", "json"}, wantStdout: str("[\n  {\n    \"id\": \"n1\",\n    \"addr\": \"\",\n    \"voter\": true\n  }\n]\n")},
		{name: "remove unknown", args: []string{"members", "remove", "n9"}, wantCode: exitError, stderrHas: "not a member"},
		{name: "promote unknown", args: []string{"members", "promote", "n9"}, wantCode: exitError},
		{name: "add bad id", args: []string{"members", "add", "bad id!", "127.0.0.1:1"}, wantCode: exitUsage},
		{name: "snapshot", args: []string{"snapshot"}, stdoutHas: "\n"},
	})
	// status -o json, and the text table made of the same numbers (nothing
	// is written in between).
	r := runIn(t, "", "status", "-o", "json", "--addr", n.httpAddr)
	var st statusOutput
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
		t.Fatalf("status -o json: %v (%v)", err, r)
	}
	if len(st.Members) != 1 || len(st.Nodes) != 1 {
		t.Fatalf("status -o json: got %+v, want one member and one node", st)
	}
	m, node := st.Members[0], st.Nodes[0]
	if st.Leader != "n1" || m.ID != "n1" || m.Role != "leader" || !m.Voter || m.Endpoint != "http://"+n.httpAddr ||
		m.Term == nil || *m.Term != node.Term || *m.Term == 0 || m.Commit == nil || *m.Commit != node.Commit ||
		m.Applied == nil || *m.Applied != node.Applied || m.Match == nil || *m.Match != node.LastIndex || m.Lag == nil || *m.Lag != 0 {
		t.Errorf("status -o json: got leader %q, row %+v, node %+v; want n1 leading with its own numbers and lag 0", st.Leader, m, node)
	}
	want := fmt.Sprintf("ID  ADDR  ROLE    TERM  COMMIT  APPLIED  MATCH  LAG\nn1  -     leader  %-4d  %-6d  %-7d  %-5d  0\n",
		node.Term, node.Commit, node.Applied, node.LastIndex)
	r = runIn(t, "", "status", "--addr", n.httpAddr)
	if diff := cmp.Diff(want, r.stdout); r.code != 0 || diff != "" {
		t.Errorf("status: got %v; stdout (-want +got):\n%s", r, diff)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		stderrHas string
	}{
		{[]string{}, "expected one of"},
		{[]string{"frobnicate"}, "unexpected argument frobnicate"},
		{[]string{"get"}, `expected "<key>"`},
		{[]string{"get", "k", "--consistency", "maybe"}, "--consistency"},
		{[]string{"put", "k", "v", "--bogus"}, "unknown flag --bogus"},
		{[]string{"scan", "--prefix", "a", "--start", "b"}, "--prefix and --start can't be used together"},
		{[]string{"scan", "--prefix", "a", "--end", "b"}, "--end cannot be combined with --prefix"},
		{[]string{"scan", "--limit", "-1"}, "--limit"},
		{[]string{"get", "k", "-o", "yaml"}, "--output"},
		{[]string{"get", "k", "--timeout", "soon"}, "--timeout"},
		{[]string{"bench", "--read-ratio", "2"}, "--read-ratio"},
		{[]string{"bench", "--concurrency", "0"}, "--concurrency"},
		{[]string{"serve", "--log-format", "xml"}, "--log-format"},
		{[]string{"serve", "--tls-cert", "/nonexistent"}, "/nonexistent"},
		{[]string{"serve", "--join", "127.0.0.1:1", "--peers", "n1=127.0.0.1:2"}, "--join and --peers"},
		{[]string{"serve", "--insecure", "--cluster-secret", "s", "--peers", "n1=127.0.0.1:2"}, "choose one"},
		{[]string{"members", "add", "n2"}, "<raft-addr>"},
		{[]string{"restore", "x.backup"}, "missing flags"},
		{[]string{"certs", "node", "--id", "n1"}, "missing flags"},
		{[]string{"demo", "--keys", "0"}, "--keys"},
		{[]string{"put"}, `expected "<key>"`},
		{[]string{"put", "k", "v", "extra"}, "unexpected argument extra"},
		{[]string{"del"}, `expected "<key>"`},
		{[]string{"scan", "extra"}, "unexpected argument extra"},
		{[]string{"cas"}, `expected "<key>`},
		{[]string{"txn", "--file", "/nonexistent.json"}, "/nonexistent.json"},
		{[]string{"txn", "extra"}, "unexpected argument extra"},
		{[]string{"status", "extra"}, "unexpected argument extra"},
		{[]string{"members", "frob"}, "unexpected argument frob"},
		{[]string{"members", "remove"}, `expected "<id>"`},
		{[]string{"transfer-leadership", "n1", "n2"}, "unexpected argument n2"},
		{[]string{"transfer-leader", "n1", "n2"}, "unexpected argument n2"},
		{[]string{"snapshot", "extra"}, "unexpected argument extra"},
		{[]string{"backup"}, `expected "<file>"`},
		{[]string{"restore", "--dir", "d", "--id", "n1"}, `expected "<file>"`},
		{[]string{"bench", "--duration", "0s"}, "--duration"},
		{[]string{"bench", "--max-ops", "0"}, "--max-ops"},
		{[]string{"bench", "--keys", "0"}, "--keys"},
		{[]string{"bench", "--value-size", "-1"}, "--value-size"},
		{[]string{"bench", "--inflight", "0"}, "--inflight must be"},
		{[]string{"bench", "--inflight=-2"}, "--inflight must be"},
		{[]string{"serve", "--max-value-bytes=-5"}, "--max-*-bytes"},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"version", "extra"}, "unexpected argument extra"},
	}
	for _, tt := range tests {
		r := runIn(t, "", tt.args...)
		if r.code != exitUsage {
			t.Errorf("yggr %v: got %v, want exit %d", tt.args, r, exitUsage)
			continue
		}
		if !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, tt.stderrHas) {
			t.Errorf("yggr %v: got stderr %q, want \"Error: ...%s...\"", tt.args, r.stderr, tt.stderrHas)
		}
	}
}

func TestServeMultiNodeNeedsSecurity(t *testing.T) {
	t.Parallel()
	addrs, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", nil, "serve", "--dir", t.TempDir(), "--http-addr", addrs[0], "--id", "n1",
		"--peers", "n1=127.0.0.1:1,n2=127.0.0.1:2", "--raft-addr", "127.0.0.1:1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--cluster-secret") || !strings.Contains(r.stderr, "--insecure") ||
		strings.Contains(r.stderr, "With") {
		t.Errorf("serve with peers and no security: got %v, want exit %d naming the flags (not the Go options)", r, exitUsage)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--token", "s3cret")
	runSteps(t, n.httpAddr, []step{
		{name: "no token", args: []string{"put", "k", "v"}, wantCode: exitError, stderrHas: "unauthorized"},
		{name: "token flag", args: []string{"put", "--token", "s3cret", "k", "v"}, wantStdout: str("OK\n")},
	})
	r := runCLI(t, "", []string{"YGGR_ADDR=" + n.httpAddr, "YGGR_TOKEN=s3cret"}, "get", "k")
	if r.code != 0 || r.stdout != "v" {
		t.Errorf("get with YGGR_TOKEN: got %v, want v", r)
	}
}

func TestBench(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	r := runIn(t, "", "bench", "--addr", n.httpAddr, "--duration", "1s", "--max-ops", "300",
		"--concurrency", "4", "--keys", "20", "-o", "json")
	if r.code != 0 {
		t.Fatalf("bench: %v", r)
	}
	var out benchOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("bench -o json: %v in %q", err, r.stdout)
	}
	if out.All.Ops == 0 || out.All.Ops > 300 || out.All.Errors != 0 {
		t.Errorf("bench: got %d ops and %d errors, want 1..300 ops and no errors", out.All.Ops, out.All.Errors)
	}
	if out.Writes.Ops+out.Reads.Ops != out.All.Ops || out.All.P50ms > out.All.P99ms || out.All.P99ms > out.All.MaxMs {
		t.Errorf("bench: inconsistent summary %+v", out)
	}
	sum := 0
	for _, c := range out.Counts {
		sum += c
	}
	if sum != out.All.Ops {
		t.Errorf("bench histogram: got %d ops in buckets, want %d", sum, out.All.Ops)
	}
	r = runIn(t, "", "bench", "--addr", n.httpAddr, "--duration", "300ms", "--read-ratio", "0", "--max-ops", "50")
	for _, want := range []string{"ops/s", "p99", "latency histogram"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("bench text output: got %v, want it to contain %q", r, want)
		}
	}
	if !strings.Contains(r.stderr, "calls beyond 4 get and 1 put requests in flight batched") {
		t.Errorf("bench: stderr %q does not say how the client batches", r.stderr)
	}
	r = runIn(t, "", "bench", "--addr", n.httpAddr, "--duration", "300ms", "--max-ops", "50", "--write-inflight", "0")
	if r.code != 2 || !strings.Contains(r.stderr, "--write-inflight must be ≥ 1") {
		t.Errorf("bench --write-inflight 0: got %v, want a usage error", r)
	}
	r = runIn(t, "", "bench", "--addr", n.httpAddr, "--duration", "300ms", "--max-ops", "50", "--inflight=-1")
	if r.code != 0 || !strings.Contains(r.stderr, "one request per call") || !strings.Contains(r.stdout, "ops/s") {
		t.Errorf("bench --inflight=-1: got %v", r)
	}
}

// TestVersion is not parallel: it sets the package's version variable.
func TestVersion(t *testing.T) {
	r := runCLI(t, "", nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "yggr ") {
		t.Errorf("version: got %v", r)
	}
	platform := " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if r := runIn(t, "", "version"); r.code != 0 || r.stdout != "yggr (devel)"+platform {
		t.Errorf("version in a test binary: got %v, want %q", r, "yggr (devel)"+platform)
	}
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	if r := runIn(t, "", "version"); r.code != 0 || r.stdout != "yggr v1.2.3"+platform {
		t.Errorf("version set at build time: got %v, want %q", r, "yggr v1.2.3"+platform)
	}
}

// TestBinaryExitCodes checks the exit codes of the real binary (the other
// tests mostly run commands in this process), and that YGGR_ variables
// set flags.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env      []string
		args     []string
		wantCode int
		stdout   string
	}{
		{[]string{"YGGR_ADDR=" + n.httpAddr}, []string{"put", "k", "v"}, exitOK, "OK\n"},
		{[]string{"YGGR_ADDR=" + n.httpAddr, "YGGR_OUTPUT=json"}, []string{"del", "nothing"}, exitOK, "{\n  \"index\": 3,\n  \"deleted\": false\n}\n"},
		{[]string{"YGGR_ADDR=" + n.httpAddr}, []string{"get", "k"}, exitOK, "v"},
		{[]string{"YGGR_ADDR=" + n.httpAddr}, []string{"get", "missing"}, exitNotFound, ""},
		{[]string{"YGGR_ADDR=" + closed[0]}, []string{"get", "k"}, exitUnavailable, ""},
		{nil, []string{"get"}, exitUsage, ""},
		{nil, []string{"--help"}, exitOK, ""},
	}
	for _, tt := range tests {
		r := runCLI(t, "", tt.env, tt.args...)
		if r.code != tt.wantCode || (tt.stdout != "" && r.stdout != tt.stdout) {
			t.Errorf("%v yggr %v: got %v, want exit %d and stdout %q", tt.env, tt.args, r, tt.wantCode, tt.stdout)
		}
	}
}

// TestHTTPS serves the API over TLS with a certificate from `yggr certs`
// and talks to it with --cacert.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	makeCerts(t, dir, "web")
	other := filepath.Join(dir, "other")
	makeCerts(t, other)
	n := startTLSNode(t, dir, "web")
	ca := filepath.Join(dir, "ca.crt")
	runSteps(t, n.httpAddr, []step{
		{name: "put", args: []string{"put", "--cacert", ca, "k", "v"}, wantStdout: str("OK\n")},
		{name: "get", args: []string{"get", "--cacert", ca, "k"}, wantStdout: str("v")},
		{name: "get https scheme", args: []string{"get", "--cacert", ca, "--addr", "https://" + n.httpAddr, "k"}, wantStdout: str("v")},
		{name: "plain http", args: []string{"get", "k"}, wantCode: exitUsage, stderrHas: "HTTPS server"},
		{name: "another CA", args: []string{"get", "--cacert", filepath.Join(other, "ca.crt"), "k"}, wantCode: exitUnavailable, stderrHas: "certificate"},
		{name: "not PEM", args: []string{"get", "--cacert", filepath.Join(dir, "web.key.txt"), "k"}, wantCode: exitUsage, stderrHas: "no PEM certificates"},
		{name: "missing file", args: []string{"get", "--cacert", filepath.Join(dir, "nope.crt"), "k"}, wantCode: exitUsage, stderrHas: "nope.crt"},
	})
}

// makeCerts runs `yggr certs init` into dir and `yggr certs node` for
// each id (host 127.0.0.1), and writes dir/web.key.txt, a file with no
// certificate in it.
func makeCerts(t *testing.T, dir string, ids ...string) {
	t.Helper()
	if r := runIn(t, "", "certs", "init", "--out", dir); r.code != 0 {
		t.Fatalf("certs init: %v", r)
	}
	for _, id := range ids {
		if r := runIn(t, "", "certs", "node", "--ca-dir", dir, "--id", id, "--host", "127.0.0.1", "--out", dir); r.code != 0 {
			t.Fatalf("certs node %s: %v", id, r)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "web.key.txt"), []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startTLSNode starts a single-node serve in this process whose HTTP API
// uses certs/<id>.crt, and waits until it answers over HTTPS (trusting
// certs/ca.crt).
func startTLSNode(t *testing.T, certs, id string, extra ...string) *servedNode {
	t.Helper()
	https, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	n := serveIn(t, append([]string{"--id", id, "--dir", dir, "--http-addr", https[0], "--log-level", "warn",
		"--http-tls-cert", filepath.Join(certs, id+".crt"), "--http-tls-key", filepath.Join(certs, id+".key")}, extra...)...)
	n.httpAddr, n.dir, n.cacert = https[0], dir, filepath.Join(certs, "ca.crt")
	waitReady(t, n, 20*time.Second)
	return n
}
