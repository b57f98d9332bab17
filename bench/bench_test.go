package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as the harness's child processes, which
// the orchestrator starts by re-executing os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "-child-system" || os.Args[1] == "-idle-node") {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole harness (floor, all three systems in child processes
// built from this test binary, the idle node) with short rows and checks
// that every system produced its rows without errors.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three-node clusters for ~30 s")
	}
	out := runHarness(t, "-quick", "-duration", "300ms", "-catchup", "500")
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	got := map[string]Result{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.System == "" { // a ratio line
			continue
		}
		if r.Err != "" {
			t.Errorf("%s %s: error %s", r.System, r.Workload, r.Err)
		}
		got[r.System+"/"+r.key()] = r
	}
	for _, k := range []string{
		"floor/fdatasync-4KiB/0", "floor/fdatasync-4KiB-x3/0", "floor/rtt-tcp/0", "floor/rtt-quic/0",
		"yggr/write-128B/1", "yggr/write-128B/64", "yggr/read-linearizable/64", "yggr/read-lease/64",
		"yggr/read-stale/64", "yggr/write-1KiB/64", "yggr/catchup/0", "yggr/failover/0", "yggr/idle-node-rss/0",
		"hashicorp/write-128B/64", "hashicorp/read-linearizable/64", "hashicorp/catchup/0", "hashicorp/failover/0",
		"etcd/write-128B/64", "etcd/read-linearizable/64", "etcd/catchup/0", "etcd/failover/0",
	} {
		r, ok := got[k]
		if !ok {
			t.Errorf("row %s missing", k)
			continue
		}
		if r.OpsPerSec <= 0 && r.ValueMs <= 0 && r.P50Ms <= 0 && r.RSSMiB <= 0 {
			t.Errorf("row %s: no measurement: %+v", k, r)
		}
		if r.ValueMs > float64(time.Minute/time.Millisecond) {
			t.Errorf("row %s: %v ms, want under a minute", k, r.ValueMs)
		}
	}
}

// TestSnapshotImpact runs the snapshot workload with a small state on the
// systems that support it and checks both rows exist without errors (etcd
// has no snapshot in the harness and must produce no row).
func TestSnapshotImpact(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three-node clusters for a few seconds")
	}
	out := runHarness(t, "-workloads", "snapshot", "-snapshot-keys", "2000", "-duration", "200ms")
	rows, err := readRows(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, r := range rows {
		if r.System == "" {
			continue
		}
		if r.Err != "" {
			t.Errorf("%s %s: error %s", r.System, r.Workload, r.Err)
		}
		got[r.System+"/"+r.Workload] = r
	}
	for _, k := range []string{"yggr/snapshot-baseline", "yggr/snapshot-during", "hashicorp/snapshot-baseline", "hashicorp/snapshot-during"} {
		if r, ok := got[k]; !ok || r.OpsPerSec <= 0 || r.P99Ms <= 0 {
			t.Errorf("row %s: got %+v (present %v), want ops/s and p99 > 0", k, r, ok)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "etcd/") || strings.HasSuffix(k, "/process-rss") {
			t.Errorf("row %s: got a row, want none in a snapshot-only run", k)
		}
	}
}

// runHarness runs the whole harness with args, its table discarded, and
// returns the path of its JSON lines.
func runHarness(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := parseFlags(append(args, "-json", out))
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if err := orchestrate(f, devnull); err != nil {
		t.Fatal(err)
	}
	return out
}
