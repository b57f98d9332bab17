package main

import (
	"strings"
	"testing"
)

// TestWriteTableFloor: the floor table is printed when the run measured
// the floor, and not as an empty table when it did not (-workloads
// without floor).
func TestWriteTableFloor(t *testing.T) {
	row := Result{System: "yggr", Workload: "write-128B", Concurrency: 1, OpsPerSec: 100, P50Ms: 1, P99Ms: 2}
	floor := Result{System: "floor", Workload: "fdatasync-4KiB-x3", Ops: 3, P50Ms: 0.3, P99Ms: 0.6}
	var without, with strings.Builder
	writeTable(&without, []Result{row}, []string{"yggr"})
	writeTable(&with, []Result{row, floor}, []string{"yggr"})
	if strings.Contains(without.String(), "| floor |") {
		t.Errorf("floor table printed without floor rows:\n%s", without.String())
	}
	if !strings.Contains(with.String(), "| floor |") || !strings.Contains(with.String(), "| fdatasync-4KiB-x3 | 3 |") {
		t.Errorf("floor row missing:\n%s", with.String())
	}
}
