package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEtcdServer runs the etcd-server system (three real etcd processes)
// with short rows, checks that every row was measured, with the servers'
// CPU on the load rows, and that no etcd process and no temp directory
// outlives the run. It is skipped when the etcd binary is missing.
func TestEtcdServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-process etcd cluster for ~15 s")
	}
	if _, err := etcdBinary(""); err != nil {
		t.Skip(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the harness's and its child's temp dirs go here
	out := runHarness(t, "-systems", sysEtcdServer, "-workloads", "write,read,catchup,failover",
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
	for _, k := range []string{"write-128B/1", "write-128B/64", "read-linearizable/64", "read-stale/64"} {
		r, ok := got[sysEtcdServer+"/"+k]
		if !ok || r.OpsPerSec <= 0 || r.ServerCPUUsPerOp <= 0 || r.CPUUsPerOp <= 0 {
			t.Errorf("row %s: got %+v (present %v), want ops/s, server and client CPU per op > 0", k, r, ok)
		}
	}
	if r, ok := got[sysEtcdServer+"/read-lease/64"]; ok {
		t.Errorf("etcd has no lease read, got a row %+v", r)
	}
	for _, k := range []string{"catchup/0", "failover-kill/0", "failover/0"} {
		if r, ok := got[sysEtcdServer+"/"+k]; !ok || r.ValueMs <= 0 || r.ValueMs > float64(time.Minute/time.Millisecond) {
			t.Errorf("row %s: got %+v (present %v), want a time under a minute", k, r, ok)
		}
	}
	if r := got[sysEtcdServer+"/process-rss/0"]; r.HWMMiB < 30 || r.RSSMiB <= 0 || r.RSSMiB > r.HWMMiB {
		t.Errorf("row process-rss: got VmHWM %.1f MiB, VmRSS %.1f MiB, want the servers' sum (≥ 30 MiB, RSS ≤ HWM)", r.HWMMiB, r.RSSMiB)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in the temp dir: %s", e.Name())
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), tmp) && filepath.Dir(p) != "/proc/self" {
			t.Errorf("still running: %s: %q", filepath.Dir(p), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestEtcdServerMissingBinary checks that without an etcd binary the run
// skips etcd-server, saying how to install it, and runs nothing for it.
func TestEtcdServerMissingBinary(t *testing.T) {
	out := filepath.Join(t.TempDir(), "table.md")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseFlags([]string{"-systems", sysEtcdServer, "-workloads", "write", "-etcd-bin", filepath.Join(t.TempDir(), "no-etcd")})
	if err != nil {
		t.Fatal(err)
	}
	if err := orchestrate(f, w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, sysEtcdServer+" skipped") || !strings.Contains(s, "install-etcd.sh") {
		t.Errorf("table without etcd: %q, want it to say etcd-server was skipped and how to install etcd", s)
	}
	if strings.Contains(string(b), "write-128B") {
		t.Errorf("table without etcd has a write row: %q", b)
	}
}
