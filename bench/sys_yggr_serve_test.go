package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestServe runs the two yggr-serve systems (three `yggr serve` processes
// each, from a binary the harness builds) with short rows, checks that
// every row was measured, with the servers' CPU on the load rows, and
// that no server process and no temp directory outlives the run.
func TestServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/yggr and runs two three-process clusters for ~20 s")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the harness's and its children's temp dirs go here
	out := runHarness(t, "-systems", "yggr-serve,yggr-serve-http", "-workloads", "write,read,catchup,failover",
		"-quick", "-duration", "300ms", "-catchup", "500")
	rows, err := readRows(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, r := range rows {
		if r.System == "" { // a ratio line
			continue
		}
		if r.Err != "" {
			t.Errorf("%s %s: error %s", r.System, r.Workload, r.Err)
		}
		got[r.System+"/"+r.key()] = r
	}
	for _, sys := range []string{sysServe, sysServeHTTP} {
		for _, k := range []string{"write-128B/1", "write-128B/64", "read-linearizable/64", "read-lease/64", "read-stale/64"} {
			r, ok := got[sys+"/"+k]
			if !ok || r.OpsPerSec <= 0 || r.ServerCPUUsPerOp <= 0 || r.CPUUsPerOp <= 0 {
				t.Errorf("row %s/%s: got %+v (present %v), want ops/s, server and client CPU per op > 0", sys, k, r, ok)
			}
		}
		for _, k := range []string{"catchup/0", "failover-kill/0", "failover/0"} {
			if r, ok := got[sys+"/"+k]; !ok || r.ValueMs <= 0 || r.ValueMs > float64(time.Minute/time.Millisecond) {
				t.Errorf("row %s/%s: got %+v (present %v), want a time under a minute", sys, k, r, ok)
			}
		}
		// Three Go servers with a Badger store each weigh well over 30 MiB.
		if r := got[sys+"/process-rss/0"]; r.HWMMiB < 30 || r.RSSMiB <= 0 || r.RSSMiB > r.HWMMiB {
			t.Errorf("row %s/process-rss: got VmHWM %.1f MiB, VmRSS %.1f MiB, want the servers' sum (≥ 30 MiB, RSS ≤ HWM)", sys, r.HWMMiB, r.RSSMiB)
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in the temp dir: %s", e.Name())
	}
	// Every server's --dir is under tmp: none may still run.
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), tmp) && filepath.Dir(p) != "/proc/self" {
			t.Errorf("still running: %s: %q", filepath.Dir(p), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestServeStartFails checks that a server that exits at once fails the
// start quickly, with the reason, and leaves nothing running.
func TestServeStartFails(t *testing.T) {
	const bin = "/bin/false"
	if _, err := os.Stat(bin); err != nil {
		t.Skip(bin, "missing")
	}
	t0 := time.Now()
	s, err := startServe(context.Background(), sysServe, bin, t.TempDir())
	if err == nil {
		s.Close()
		t.Fatal("startServe with /bin/false: no error")
	}
	if !strings.Contains(err.Error(), "exited") {
		t.Errorf("got %v, want an error saying a server exited", err)
	}
	if d := time.Since(t0); d > serveReadyTimeout/2 {
		t.Errorf("failing start took %v, want well under %v", d, serveReadyTimeout)
	}
}

func TestRatioPairs(t *testing.T) {
	for _, tc := range []struct {
		systems []string
		want    [][2]string
	}{
		{[]string{"yggr", "hashicorp", "etcd"}, [][2]string{{"yggr", "hashicorp"}, {"yggr", "etcd"}}},
		{[]string{"yggr", "yggr-serve", "hashicorp", "yggr-serve-http", "etcd"}, [][2]string{{"yggr", "hashicorp"}, {"yggr", "etcd"}}},
		{[]string{"yggr-serve", "yggr-serve-http"}, nil},
		{[]string{"hashicorp", "etcd"}, nil},
	} {
		if diff := cmp.Diff(tc.want, ratioPairs(tc.systems)); diff != "" {
			t.Errorf("ratioPairs(%v) (-want +got):\n%s", tc.systems, diff)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		{"12450 (cat) R 12407 12407 6852 0 -1 4194304 103 0 0 0 7 3 0 0 20 0 1 0", 100 * time.Millisecond, true},
		// A command name with spaces and parentheses.
		{"7 (a) b (c) S 1 7 7 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0", 3 * time.Second, true},
		{"7 (yggr) S 1 7", 0, false},
		{"no name", 0, false},
		{"7 (x) S 1 7 7 0 -1 0 0 0 0 0 x 5 0 0", 0, false},
	} {
		got, err := parseStatCPU(tc.stat)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, ok %v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

// The server systems name their leader's process for withCPU's split.
var (
	_ leaderProcs = (*serveSys)(nil)
	_ leaderProcs = (*etcdServerSys)(nil)
)
