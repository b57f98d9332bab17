package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"

	"github.com/yggrdb/yggr/internal/freeport"
)

// clientCommands are one run of every client command (ones that change
// the cluster aim at members that do not exist), with its stdin. Each
// reaches the server; backup writes under dir.
func clientCommands(dir string) []struct {
	args  []string
	stdin string
} {
	return []struct {
		args  []string
		stdin string
	}{
		{[]string{"get", "k"}, ""},
		{[]string{"get", "--consistency", "stale", "k"}, ""},
		{[]string{"put", "k", "v"}, ""},
		{[]string{"put", "k"}, "from stdin"},
		{[]string{"del", "k"}, ""},
		{[]string{"scan"}, ""},
		{[]string{"cas", "k", "a", "b"}, ""},
		{[]string{"cas", "--missing", "k", "b"}, ""},
		{[]string{"txn"}, `{"success":[{"op":"get","key":"aw=="}]}`},
		{[]string{"put", "--ttl", "10s", "k", "v"}, ""},
		{[]string{"put", "--lease", "7", "k", "v"}, ""},
		{[]string{"lease", "grant", "10s"}, ""},
		{[]string{"lease", "keepalive", "7"}, ""},
		{[]string{"lease", "keepalive", "--once", "7"}, ""},
		{[]string{"lease", "revoke", "7"}, ""},
		{[]string{"lease", "ttl", "--keys", "7"}, ""},
		{[]string{"lease", "list"}, ""},
		{[]string{"status"}, ""},
		{[]string{"members", "list"}, ""},
		{[]string{"members", "add", "--learner", "n7", "127.0.0.1:9"}, ""},
		{[]string{"members", "remove", "n7"}, ""},
		{[]string{"members", "promote", "n7"}, ""},
		{[]string{"transfer-leadership", "n7"}, ""},
		{[]string{"transfer-leader", "n7"}, ""}, // the alias
		{[]string{"snapshot"}, ""},
		{[]string{"backup", filepath.Join(dir, "b.backup")}, ""},
		{[]string{"backup", "-"}, ""},
		{[]string{"bench", "--duration", "2s", "--max-ops", "4", "--concurrency", "2", "--read-ratio", "0"}, ""},
		{[]string{"bench", "--duration", "2s", "--max-ops", "4", "--concurrency", "2", "--keys", "2"}, ""},
	}
}

// TestUnavailable: every client command against a closed port exits 4
// with an error on stderr and leaves no partial output behind.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	addrs, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range clientCommands(dir) {
		r := runIn(t, c.stdin, append(c.args, "--addr", addrs[0])...)
		if r.code != exitUnavailable || !hasError(r.stderr) {
			t.Errorf("yggr %v against a closed port: got %v, want exit %d with Error: on stderr", c.args, r, exitUnavailable)
		}
		if c.args[0] != "bench" && r.stdout != "" { // bench reports its (failed) run
			t.Errorf("yggr %v against a closed port: got stdout %q, want none", c.args, r.stdout)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a failed backup left files behind: %v", left)
	}
}

// hasError reports whether stderr has an "Error: " line (bench writes a
// banner before it).
func hasError(stderr string) bool {
	return strings.HasPrefix(stderr, "Error: ") || strings.Contains(stderr, "\nError: ")
}

// TestUnauthorized: against a server with --token, every client command
// without the token or with a wrong one exits 1 saying so; with it, the
// same commands get past the check.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--token", "s3cret")
	dir := t.TempDir()
	for _, c := range clientCommands(dir) {
		for _, token := range []string{"", "wrong"} {
			r := runIn(t, c.stdin, append(c.args, "--addr", n.httpAddr, "--token", token)...)
			if r.code != exitError || !hasError(r.stderr) || !strings.Contains(r.stderr, "401 unauthorized") {
				t.Errorf("yggr %v --token %q: got %v, want exit %d and a 401 on stderr", c.args, token, r, exitError)
			}
		}
		r := runIn(t, c.stdin, append(c.args, "--addr", n.httpAddr, "--token", "s3cret")...)
		if strings.Contains(r.stderr, "unauthorized") {
			t.Errorf("yggr %v with the token: got %v, want it authorized", c.args, r)
		}
	}
}

// TestOutcomes covers the exit codes of commands that reach a healthy
// server but cannot do what was asked, and of endpoint lists.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	// With only itself in --peers the node has a peer listener, so it
	// can add members (a node without one refuses, see the root package's TestSingleNodeWithoutListenerCannotAddMembers).
	raft, err := freeport.UDP(2)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--id", "n1", "--peers", "n1="+raft[0], "--raft-addr", raft[0], "--insecure")
	// A member is added only once its node answers as itself (insecure:
	// no credentials to prove): n2 listens, alone, on raft[1].
	startNode(t, "--id", "n2", "--peers", "n2="+raft[1], "--raft-addr", raft[1], "--insecure")
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, n.httpAddr, []step{
		{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")},
		{name: "cas missing key", args: []string{"cas", "nokey", "a", "b"}, wantCode: exitError, wantStdout: str(""),
			stderrHas: `Error: cas: compare failed: the value of "nokey" is not "a"`},
		{name: "cas json fails", args: []string{"cas", "-o", "json", "k", "x", "y"}, wantCode: exitError, stdoutHas: `"succeeded": false`},
		{name: "cas json ok", args: []string{"cas", "-o", "json", "k", "v", "w"}, stdoutHas: `"succeeded": true`},
		{name: "txn failure branch", args: []string{"txn"}, stdin: `{"compare":[{"key":"aw==","target":"missing"}],
			"failure":[{"op":"get","key":"aw=="},{"op":"get","key":"bm9wZQ=="}]}`, wantStdout: str("FAILED\nw\n")},
		{name: "txn empty", args: []string{"txn"}, stdin: `{}`, wantStdout: str("SUCCEEDED\n")},
		{name: "txn bad base64", args: []string{"txn"}, stdin: `{"success":[{"op":"get","key":"!!"}]}`, wantCode: exitUsage, stderrHas: "bad JSON"},
		{name: "txn bad op", args: []string{"txn"}, stdin: `{"success":[{"op":"frob","key":"aw=="}]}`, wantCode: exitUsage},
		{name: "transfer to unknown", args: []string{"transfer-leadership", "n9"}, wantCode: exitError, stderrHas: "n9"},
		{name: "transfer to self", args: []string{"transfer-leadership", "n1"}, wantStdout: str("OK\n")},
		{name: "transfer by the old name", args: []string{"transfer-leader", "n1"}, wantStdout: str("OK\n")},
		{name: "transfer json", args: []string{"transfer-leadership", "-o", "json", "n1"}, wantStdout: str("{\n  \"to\": \"n1\"\n}\n")},
		{name: "add unreachable", args: []string{"members", "add", "--learner", "n3", "127.0.0.1:9"}, wantCode: exitError,
			stderrHas: "cannot reach n3 at 127.0.0.1:9 to check its credentials"},
		{name: "add voter json", args: []string{"members", "add", "-o", "json", "--learner", "n2", raft[1]},
			wantStdout: str("{\n  \"id\": \"n2\",\n  \"addr\": \"" + raft[1] + "\",\n  \"voter\": false\n}\n")},
		{name: "list learner", args: []string{"members"}, wantStdout: str(fmt.Sprintf("ID  ADDR%s  KIND\nn1  %s%s  voter\nn2  %s%s  learner\n",
			strings.Repeat(" ", max(len(raft[0]), len(raft[1]))-4), raft[0], strings.Repeat(" ", max(0, len(raft[1])-len(raft[0]))),
			raft[1], strings.Repeat(" ", max(0, len(raft[0])-len(raft[1])))))},
		{name: "add again", args: []string{"members", "add", "--learner", "n2", raft[1]}, wantCode: exitError, stderrHas: "membership"},
		{name: "remove learner", args: []string{"members", "remove", "-o", "json", "n2"}, wantStdout: str("{\n  \"removed\": \"n2\"\n}\n")},
		{name: "snapshot json", args: []string{"snapshot", "-o", "json"}, stdoutHas: `"index": `},
		{name: "timeout", args: []string{"get", "--timeout", "1ns", "k"}, wantCode: exitUnavailable},
	})
	// Endpoint lists (runSteps would append its own --addr).
	tests := []struct {
		args      []string
		wantCode  int
		stdoutHas string
		stderrHas string
	}{
		{[]string{"get", "--addr", " , ", "k"}, exitUsage, "", "Error: --addr: no endpoints"},
		{[]string{"status", "--addr", ","}, exitUsage, "", "Error: --addr: no endpoints"},
		{[]string{"get", "--addr", closed[0] + "," + n.httpAddr, "k"}, exitOK, "w", ""},
		{[]string{"get", "--addr", "http://" + n.httpAddr, "k"}, exitOK, "w", ""},
		{[]string{"status", "--addr", closed[0] + "," + n.httpAddr}, exitOK, "n1  " + raft[0] + "  leader", ""},
		{[]string{"status", "--addr", closed[0]}, exitUnavailable, "", "Error: status: no endpoint answered: http://" + closed[0]},
	}
	for _, tt := range tests {
		r := runIn(t, "", tt.args...)
		if r.code != tt.wantCode || !strings.Contains(r.stdout, tt.stdoutHas) || !strings.Contains(r.stderr, tt.stderrHas) {
			t.Errorf("yggr %v: got %v, want exit %d, stdout with %q, stderr with %q", tt.args, r, tt.wantCode, tt.stdoutHas, tt.stderrHas)
		}
	}
}

// TestExitCode maps errors to exit codes as doc.go documents them.
func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("other"), exitError},
		{errCompareFailed, exitError},
		{usagef("bad"), exitUsage},
		{fmt.Errorf("x: %w", yggr.ErrInvalid), exitUsage},
		{yggr.ErrConfig, exitUsage},
		{notFoundError("gone"), exitNotFound},
		{fmt.Errorf("x: %w", yggr.ErrNotFound), exitNotFound},
		{fmt.Errorf("x: %w", httpapi.ErrUnavailable), exitUnavailable},
		{yggr.ErrNoLeader, exitUnavailable},
		{yggr.ErrNotLeader, exitUnavailable},
		{yggr.ErrBusy, exitUnavailable},
		{yggr.ErrClosed, exitUnavailable},
		{yggr.ErrDropped, exitUnavailable},
		{yggr.ErrTimeout, exitUnavailable},
		{fmt.Errorf("x: %w", yggr.ErrUnknownOutcome), exitUnavailable},
		{&httpapi.APIError{StatusCode: 504, Code: httpapi.CodeUnknownOutcome}, exitUnavailable},
		{fmt.Errorf("x: %w", errors.Join(errors.New("a"), context.DeadlineExceeded)), exitUnavailable},
		{&httpapi.APIError{StatusCode: 401, Code: httpapi.CodeUnauthorized}, exitError},
		{&httpapi.APIError{StatusCode: 404, Code: httpapi.CodeNotFound}, exitNotFound},
		{fmt.Errorf("x: %w", yggr.ErrLeaseNotFound), exitNotFound},
		{&httpapi.APIError{StatusCode: 404, Code: httpapi.CodeLeaseNotFound}, exitNotFound},
		{&httpapi.APIError{StatusCode: 400, Code: httpapi.CodeLeaseTTL}, exitUsage},
		{&httpapi.APIError{StatusCode: 503, Code: httpapi.CodeNoLeader}, exitUnavailable},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v): got %d, want %d", tt.err, got, tt.want)
		}
	}
}
