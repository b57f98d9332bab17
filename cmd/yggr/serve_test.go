package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/freeport"
)

// TestServeDefaults runs `yggr serve` with only a free HTTP port in a
// temporary working directory: a single-node database in ./yggr-data. It
// stops on SIGTERM with exit code 0 and keeps its data across a restart.
func TestServeDefaults(t *testing.T) {
	t.Parallel()
	https, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	n := &localNode{id: "n1", httpAddr: https[0], exe: yggrBin, workDir: wd,
		logPath: filepath.Join(wd, "n1.log"), args: []string{"serve", "--http-addr", https[0]}}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.kill() })
	waitReady(t, n, 20*time.Second)
	if _, err := os.Stat(filepath.Join(wd, "yggr-data", "yggr.json")); err != nil {
		t.Errorf("default data directory: %v", err)
	}
	runSteps(t, n.httpAddr, []step{{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")}})

	// A second server on the same HTTP port fails cleanly.
	r := runCLI(t, "", nil, "serve", "--dir", t.TempDir(), "--http-addr", https[0])
	if r.code != exitError || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("serve on a taken port: got %v, want exit %d", r, exitError)
	}

	if err := n.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop within 15s of SIGTERM; log:\n%s", n.logTail(20))
	}
	if n.exitErr != nil {
		t.Errorf("serve after SIGTERM: got %v, want exit 0; log:\n%s", n.exitErr, n.logTail(20))
	}
	if log, _ := os.ReadFile(n.logPath); !strings.Contains(string(log), "msg=stopped") {
		t.Errorf("serve log: got %q, want a \"stopped\" record", log)
	}

	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, n, 20*time.Second)
	runSteps(t, n.httpAddr, []step{{name: "get after restart", args: []string{"get", "k"}, wantStdout: str("v")}})
	if err := n.stop(10 * time.Second); err != nil {
		t.Error(err)
	}
}

// TestClusterTLSAndJoin starts three nodes secured with certificates from
// `yggr certs`, then a fourth that joins with --join and becomes a voter.
func TestClusterTLSAndJoin(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	if r := runCLI(t, "", nil, "certs", "init", "--out", certs); r.code != 0 {
		t.Fatalf("certs init: %v", r)
	}
	nodes, err := newLocalNodes(yggrBin, root, 4, "unused")
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, n := range nodes[:3] {
		peers = append(peers, n.id+"="+n.raftAddr)
	}
	for i, n := range nodes {
		if r := runCLI(t, "", nil, "certs", "node", "--ca-dir", certs, "--id", n.id, "--host", "127.0.0.1", "--out", certs); r.code != 0 {
			t.Fatalf("certs node: %v", r)
		}
		n.args = []string{"serve", "--id", n.id, "--dir", n.dir, "--http-addr", n.httpAddr, "--raft-addr", n.raftAddr,
			"--tls-ca", filepath.Join(certs, "ca.crt"), "--tls-cert", filepath.Join(certs, n.id+".crt"),
			"--tls-key", filepath.Join(certs, n.id+".key"), "--log-level", "warn"}
		if i < 3 {
			n.args = append(n.args, "--peers", strings.Join(peers, ","))
		} else {
			n.args = append(n.args, "--join", nodes[0].httpAddr)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(10 * time.Second)
		}
	})
	for _, n := range nodes[:3] {
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes[:3] {
		waitReady(t, n, 30*time.Second)
	}
	all := nodes[0].httpAddr + "," + nodes[1].httpAddr + "," + nodes[2].httpAddr
	runSteps(t, all, []step{
		{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")},
		{name: "get via n3", args: []string{"get", "--addr", nodes[2].httpAddr, "k"}, wantStdout: str("v")},
	})

	if err := nodes[3].start(); err != nil {
		t.Fatal(err)
	}
	cl := testClient(t, nodes[0].httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	err = poll(ctx, func() bool {
		ms, err := cl.Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.ID == "n4" && m.Voter {
				return true
			}
		}
		return !nodes[3].running()
	})
	if err != nil || !nodes[3].running() {
		t.Fatalf("n4 did not become a voter (%v); its log:\n%s", err, nodes[3].logTail(30))
	}
	runSteps(t, nodes[3].httpAddr, []step{
		{name: "read on the joined node", args: []string{"get", "k"}, wantStdout: str("v")},
		{name: "status lists four", args: []string{"members", "list"}, stdoutHas: "n4  " + nodes[3].raftAddr + "  voter"},
	})
	r := runCLI(t, "", nil, "status", "--addr", all+","+nodes[3].httpAddr)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 5 || !strings.Contains(r.stdout, "leader") {
		t.Errorf("status of four nodes: got %v, want a header and four rows", r)
	}
}

// TestServeLease: with --lease a get with --consistency lease is served;
// without it the server refuses lease reads (exit 2, the reason named).
func TestServeLease(t *testing.T) {
	t.Parallel()
	lease := startNode(t, "--lease")
	plain := startNode(t)
	for _, n := range []*servedNode{lease, plain} {
		runSteps(t, n.httpAddr, []step{{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")}})
	}
	runSteps(t, lease.httpAddr, []step{
		{name: "lease get", args: []string{"get", "--consistency", "lease", "k"}, wantStdout: str("v")},
		{name: "lease get json", args: []string{"get", "--consistency", "lease", "-o", "json", "k"}, stdoutHas: `"value": "dg=="`},
		{name: "lease get missing", args: []string{"get", "--consistency", "lease", "nope"}, wantCode: exitNotFound},
		{name: "lease scan", args: []string{"scan", "--consistency", "lease"}, wantStdout: str("k\nv\n")},
	})
	r := runIn(t, "", "bench", "--addr", lease.httpAddr, "--duration", "5s", "--max-ops", "40", "--read-ratio", "1",
		"--consistency", "lease", "--keys", "4", "--concurrency", "2", "-o", "json")
	var out benchOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil {
		t.Fatalf("bench of lease reads: %v (%v)", r, err)
	}
	if out.Reads.Ops != 40 || out.Reads.Errors != 0 || out.Writes.Ops != 0 {
		t.Errorf("bench of lease reads: got %+v reads and %+v writes, want 40 reads, no errors, no writes", out.Reads, out.Writes)
	}
	runSteps(t, plain.httpAddr, []step{
		{name: "lease get refused", args: []string{"get", "--consistency", "lease", "k"}, wantCode: exitUsage, stderrHas: "lease reads are not enabled"},
		{name: "linearizable get", args: []string{"get", "k"}, wantStdout: str("v")},
	})
}

// TestServeLog checks --log-format and --log-level: the records of a
// whole serve, from start to stop.
func TestServeLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format, level string
		wantServing   bool
	}{
		{"json", "info", true},
		{"json", "debug", true},
		{"text", "info", true},
		{"json", "warn", false},
	}
	for _, tt := range tests {
		t.Run(tt.format+"-"+tt.level, func(t *testing.T) {
			t.Parallel()
			https, err := freeport.TCP(1)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "data")
			n := serveIn(t, "--dir", dir, "--http-addr", https[0], "--log-format", tt.format, "--log-level", tt.level)
			n.httpAddr = https[0]
			waitReady(t, n, 20*time.Second)
			runSteps(t, n.httpAddr, []step{{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")}})
			if code := n.stop(t); code != exitOK {
				t.Fatalf("serve: got exit %d, want 0; log:\n%s", code, n.logTail(20))
			}
			log := n.stderr.String()
			if got := n.stdout.String(); got != "" {
				t.Errorf("serve wrote %q to stdout, want nothing (logs go to stderr)", got)
			}
			wantServing := map[string]any{"level": "INFO", "msg": "serving", "node": "n1", "http": https[0],
				"raft": "(none: single node)", "dir": dir}
			var got []map[string]any
			if tt.format == "json" {
				for i, line := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
					if line == "" && i == 0 {
						continue // no records at all
					}
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("log line %d is not JSON: %v: %q", i+1, err, line)
					}
					if _, ok := rec["time"].(string); !ok {
						t.Errorf("log line %d: got no time attribute: %q", i+1, line)
					}
					got = append(got, rec)
				}
			} else {
				want := fmt.Sprintf(`level=INFO msg=serving node=n1 http=%s raft="(none: single node)" dir=%s`, https[0], dir)
				if !strings.Contains(log, want) || !strings.Contains(log, "level=INFO msg=stopped node=n1") {
					t.Errorf("text log: got %q, want records %q and stopped", log, want)
				}
				return
			}
			find := func(msg string) map[string]any {
				for _, rec := range got {
					if rec["msg"] == msg {
						return rec
					}
				}
				return nil
			}
			serving := find("serving")
			if tt.wantServing {
				for k, v := range wantServing {
					if serving[k] != v {
						t.Errorf("serving record: got %s=%v, want %v (record %v)", k, serving[k], v, serving)
					}
				}
				if rec := find("stopped"); rec == nil || rec["node"] != "n1" {
					t.Errorf("log: got no stopped record for n1 in %q", log)
				}
			} else if serving != nil || find("stopped") != nil {
				t.Errorf("--log-level %s: got info records %q, want none", tt.level, log)
			}
			for _, rec := range got {
				if tt.level == "warn" && (rec["level"] == "INFO" || rec["level"] == "DEBUG") {
					t.Errorf("--log-level warn: got record %v", rec)
				}
			}
		})
	}
}

// TestServeConfigErrors: a serve whose flags are wrong in a way only Run
// can find fails before it serves, with the documented exit code.
func TestServeConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	makeCerts(t, certs, "n1")
	junk := filepath.Join(certs, "web.key.txt")
	aFile := filepath.Join(dir, "file")
	if err := os.WriteFile(aFile, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		stderrHas string
	}{
		{"negative limit", []string{"--max-key-bytes=-1"}, exitUsage, "--max-*-bytes must be ≥ 0"},
		{"memory limit not a size", []string{"--memory-limit", "lots"}, exitUsage, `"lots" is not a size`},
		{"memory limit too small", []string{"--memory-limit", "1MiB"}, exitUsage, "below the minimum of 32MiB"},
		{"join-ca without join", []string{"--join-ca", filepath.Join(certs, "ca.crt")}, exitUsage, "--join-ca needs --join"},
		{"join-ca not PEM", []string{"--join", closed[0], "--insecure", "--join-ca", junk}, exitUsage, "--join-ca " + junk + ": no PEM certificates"},
		{"http tls junk", []string{"--http-tls-cert", junk, "--http-tls-key", junk}, exitUsage, "--http-tls-cert/--http-tls-key: tls: "},
		{"http tls half", []string{"--http-tls-cert", filepath.Join(certs, "n1.crt")}, exitUsage, "--http-tls-key"},
		{"peer tls junk", []string{"--peers", "n1=127.0.0.1:1", "--tls-ca", junk, "--tls-cert", junk, "--tls-key", junk}, exitUsage, "--tls-ca/--tls-cert/--tls-key: netquic: no CA certificate"},
		{"peer tls half", []string{"--tls-ca", filepath.Join(certs, "ca.crt")}, exitUsage, "--tls-cert"},
		{"tls and secret", []string{"--peers", "n1=127.0.0.1:1", "--tls-ca", filepath.Join(certs, "ca.crt"),
			"--tls-cert", filepath.Join(certs, "n1.crt"), "--tls-key", filepath.Join(certs, "n1.key"), "--cluster-secret", "s"}, exitUsage, "choose one"},
		{"short cluster secret", []string{"--peers", "n1=127.0.0.1:1", "--raft-addr", "127.0.0.1:1", "--cluster-secret", "short"},
			exitUsage, "--cluster-secret is shorter than 8 bytes"},
		{"raft addr not in peers", []string{"--peers", "n1=127.0.0.1:7999,n2=127.0.0.1:7998", "--raft-addr", "127.0.0.1:7997", "--insecure"},
			exitUsage, "--raft-addr 127.0.0.1:7997 differs from n1's entry in --peers (127.0.0.1:7999)"},
		{"no connections", []string{"--http-max-conns", "0"}, exitUsage, "--http-max-conns must be ≥ 1"},
		{"http addr taken", []string{"--http-addr", "127.0.0.1:-1"}, exitError, "serve: http listener"},
		{"dir is a file", []string{"--dir", aFile}, exitError, aFile},
	}
	for _, tt := range tests {
		args := append([]string{"serve", "--dir", filepath.Join(dir, tt.name), "--http-addr", closed[0]}, tt.args...)
		r := runIn(t, "", args...)
		if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, tt.stderrHas) {
			t.Errorf("%s: yggr %v: got %v, want exit %d and stderr \"Error: ...%s...\"", tt.name, args, r, tt.wantCode, tt.stderrHas)
		}
	}
}

// TestServeLimits: --max-key-bytes and --max-value-bytes reach both the
// HTTP API and the database.
func TestServeLimits(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--max-key-bytes", "8", "--max-value-bytes", "16")
	runSteps(t, n.httpAddr, []step{
		{name: "key at the limit", args: []string{"put", "12345678", "v"}, wantStdout: str("OK\n")},
		{name: "key over", args: []string{"put", "123456789", "v"}, wantCode: exitError, stderrHas: "too_large"},
		{name: "value at the limit", args: []string{"put", "k", strings.Repeat("v", 16)}, wantStdout: str("OK\n")},
		{name: "value over", args: []string{"put", "k", strings.Repeat("v", 17)}, wantCode: exitError, stderrHas: "too_large"},
		{name: "value over in a txn", args: []string{"txn"}, stdin: `{"success":[{"op":"put","key":"aw==","value":"` +
			base64.StdEncoding.EncodeToString([]byte(strings.Repeat("v", 17))) + `"}]}`, wantCode: exitError, stderrHas: "too_large"},
		{name: "unchanged", args: []string{"get", "k"}, wantStdout: str(strings.Repeat("v", 16))},
	})
}

// TestServeCPUProfile: the hidden --cpuprofile flag writes a CPU profile
// (gzip-compressed protobuf) covering the run, complete once serve stops.
func TestServeCPUProfile(t *testing.T) {
	t.Parallel()
	https, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	prof := filepath.Join(wd, "cpu.prof")
	n := &localNode{id: "n1", httpAddr: https[0], exe: yggrBin, workDir: wd, logPath: filepath.Join(wd, "n1.log"),
		args: []string{"serve", "--http-addr", https[0], "--cpuprofile", prof}}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.kill() })
	waitReady(t, n, 20*time.Second)
	runSteps(t, n.httpAddr, []step{{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")}})
	if err := n.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpuprofile wrote %d bytes not starting with the gzip magic: %q", len(b), b[:min(len(b), 16)])
	}
}
