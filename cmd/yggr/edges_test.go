package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/internal/freeport"
)

// TestErrorMessages: an error the CLI prints has one prefix and says the
// fix in the flags the user types, never a repeated layer prefix or a Go
// option name.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--token", "s3cret")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no token", []string{"get", "k"}, exitError,
			"Error: httpapi: missing or wrong bearer token (HTTP 401 unauthorized); pass the server's token with --token (or YGGR_TOKEN)\n"},
		{"empty key", []string{"put", "--token", "s3cret", "", "v"}, exitUsage,
			"Error: yggr: invalid argument: empty key (HTTP 400 invalid)\n"},
		{"lease read", []string{"get", "--token", "s3cret", "--consistency", "lease", "k"}, exitUsage,
			"Error: yggr: lease reads are not enabled on this node (HTTP 400 lease_disabled); start the node with --lease, or read with --consistency linearizable\n"},
	}
	for _, tt := range tests {
		r := runIn(t, "", append(tt.args, "--addr", n.httpAddr)...)
		if r.code != tt.code || r.stderr != tt.want {
			t.Errorf("%s: yggr %v: got exit %d, stderr %q; want exit %d, stderr %q", tt.name, tt.args, r.code, r.stderr, tt.code, tt.want)
		}
	}
}

// TestJSONErrors: under -o json an error is a JSON object on stderr with
// the API's code, the message, the fix and the exit code.
func TestJSONErrors(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     jsonError
	}{
		{"not found", []string{"get", "-o", "json", "--addr", n.httpAddr, "nokey"}, exitNotFound,
			jerr("not_found", `key "nokey" not found`, "", exitNotFound)},
		{"invalid", []string{"put", "-o", "json", "--addr", n.httpAddr, "", "v"}, exitUsage,
			jerr("invalid", "yggr: invalid argument: empty key (HTTP 400 invalid)", "", exitUsage)},
		{"parse error", []string{"get", "-o", "json"}, exitUsage,
			jerr("invalid", `expected "<key>"`, "", exitUsage)},
		{"unavailable", []string{"get", "--output=json", "--addr", closed[0], "--timeout", "2s", "k"}, exitUnavailable,
			jerr("unavailable", "", "check --addr and that the node is running", exitUnavailable)},
	}
	for _, tt := range tests {
		r := runIn(t, "", tt.args...)
		var got jsonError
		if err := json.Unmarshal([]byte(r.stderr), &got); err != nil {
			t.Errorf("%s: yggr %v: stderr %q is not JSON: %v", tt.name, tt.args, r.stderr, err)
			continue
		}
		if tt.want.Error.Message == "" { // varies with the platform's dial error
			if !strings.HasPrefix(got.Error.Message, "httpapi: no endpoint available") {
				t.Errorf("%s: got message %q, want httpapi: no endpoint available...", tt.name, got.Error.Message)
			}
			got.Error.Message = ""
		}
		if r.code != tt.wantCode || r.stdout != "" {
			t.Errorf("%s: yggr %v: got exit %d, stdout %q; want exit %d and no stdout", tt.name, tt.args, r.code, r.stdout, tt.wantCode)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s: yggr %v: JSON error (-want +got):\n%s", tt.name, tt.args, d)
		}
	}
}

func jerr(code, msg, fix string, exit int) jsonError {
	var j jsonError
	j.Error.Code, j.Error.Message, j.Error.Fix, j.Error.Exit = code, msg, fix, exit
	return j
}

// TestClientFlagsBeforeCommand: the client flags may come before the
// command, as in etcdctl.
func TestClientFlagsBeforeCommand(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	if r := runIn(t, "", "--addr", n.httpAddr, "put", "k", "v"); r.code != 0 {
		t.Fatalf("yggr --addr X put k v: %v", r)
	}
	if r := runIn(t, "", "--addr="+n.httpAddr, "-o", "json", "--timeout", "5s", "get", "k"); r.code != 0 || !strings.Contains(r.stdout, `"value"`) {
		t.Errorf("yggr --addr=X -o json --timeout 5s get k: got %v, want a JSON item", r)
	}
	if r := runIn(t, "", "--bogus", "get", "k"); r.code != exitUsage {
		t.Errorf("yggr --bogus get k: got %v, want exit %d", r, exitUsage)
	}
	for _, tt := range []struct{ in, want []string }{
		{[]string{"--addr", "a", "get", "k"}, []string{"get", "k", "--addr", "a"}},
		{[]string{"-o", "json", "--token=t", "lock", "L", "--", "sh", "-c", "x"}, []string{"lock", "L", "-o", "json", "--token=t", "--", "sh", "-c", "x"}},
		{[]string{"get", "k", "--addr", "a"}, []string{"get", "k", "--addr", "a"}},
		{[]string{"--addr"}, []string{"--addr"}},
		{[]string{"--help"}, []string{"--help"}},
	} {
		if got := moveLeadingClientFlags(tt.in); !cmp.Equal(got, tt.want) {
			t.Errorf("moveLeadingClientFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAddrHelpShowsDefault: --addr's help says where the client goes by
// default.
func TestAddrHelpShowsDefault(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(yggrBin, "get", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(default: 127.0.0.1:7070)") {
		t.Errorf("yggr get --help: got %q, %v; want --addr's default 127.0.0.1:7070", out, err)
	}
}

// TestScanQuotesKeys: text scan output keeps one key and one value a line,
// quoting those with a newline, a control byte, invalid UTF-8 or a
// leading quote.
func TestScanQuotesKeys(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	cl := testClient(t, n.httpAddr)
	ctx := t.Context()
	for k, v := range map[string]string{"a\nb": "v1", "c d": "two\nlines", "e\x00": "\xff", `"f"`: "plain"} {
		if _, err := cl.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	r := runIn(t, "", "scan", "--addr", n.httpAddr)
	want := `"\"f\""` + "\nplain\n" + `"a\nb"` + "\nv1\nc d\n" + `"two\nlines"` + "\n" + `"e\x00"` + "\n" + `"\xff"` + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("scan: got %v, want stdout:\n%s", r, want)
	}
}

// TestBenchSaysWhereItWrites: bench says which keys it writes, and where.
func TestBenchSaysWhereItWrites(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	r := runIn(t, "", "bench", "--addr", n.httpAddr, "--duration", "200ms", "--max-ops", "20", "--keys", "5", "--read-ratio", "0")
	want := "writes keys bench/00000000 to bench/00000004 on " + n.httpAddr
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("bench: got %v, want stderr to contain %q", r, want)
	}
}

// TestStatusShowsUnreachable: an endpoint that does not answer is listed
// as unreachable, in text and in JSON, beside the members that answered.
func TestStatusShowsUnreachable(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	addrs := n.httpAddr + "," + closed[0]
	r := runIn(t, "", "status", "--addr", addrs, "--timeout", "3s")
	if r.code != 0 || !strings.Contains(r.stdout, "http://"+closed[0]+": unreachable: ") || !strings.Contains(r.stdout, "leader") {
		t.Errorf("status: got %v, want the leader's row and %s listed as unreachable", r, closed[0])
	}
	r = runIn(t, "", "status", "--addr", addrs, "--timeout", "3s", "-o", "json")
	var out statusOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("status -o json: %v in %v", err, r)
	}
	if len(out.Unreachable) != 1 || out.Unreachable[0].Endpoint != "http://"+closed[0] || out.Unreachable[0].Error == "" {
		t.Errorf("status -o json: got unreachable %+v, want %s with its error", out.Unreachable, closed[0])
	}
}

// TestStatusWithoutLeaderSaysUnknown: with no leader among the answers,
// the members that did not answer are unknown, not followers.
func TestStatusWithoutLeaderSaysUnknown(t *testing.T) {
	t.Parallel()
	st := yggr.Status{ID: "n2", Role: yggr.RoleFollower, Term: 3, Leader: "n1",
		Members: []yggr.Member{{ID: "n1", Voter: true}, {ID: "n2", Voter: true}, {ID: "n3", Voter: true}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	}))
	defer srv.Close()
	f := &clientFlags{Timeout: 5 * time.Second}
	out, err := collectStatus(t.Context(), f, []string{srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range out.Members {
		got = append(got, m.ID+"="+m.Role)
	}
	if want := []string{"n1=unknown", "n2=follower", "n3=unknown"}; !cmp.Equal(got, want) {
		t.Errorf("roles: got %v, want %v", got, want)
	}
}
