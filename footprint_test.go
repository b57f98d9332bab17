//go:build linux

// The footprint tests read /proc.

package yggr

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFootprint1M measures what issue 15 sets targets for, on one node: the
// memory of 1M keys of 16 B with 128 B values (144 MB raw) while they are
// written as 10k transactions of 100 puts and at rest, and, after 100k
// more single puts (so that the log holds 100k entries), the time to
// reopen the directory and serve the first read. It takes about a minute
// and is skipped unless YGGR_FOOTPRINT=1:
//
//	YGGR_FOOTPRINT=1 go test -run TestFootprint1M -v .
//	YGGR_FOOTPRINT=1 GOMEMLIMIT=250MiB go test -run TestFootprint1M -v .
//	YGGR_FOOTPRINT=1 YGGR_FOOTPRINT_HEAP=heap.prof go test -run TestFootprint1M .
//	YGGR_FOOTPRINT=1 YGGR_FOOTPRINT_HEAP_WRITING=heap.prof go test -run TestFootprint1M .
//
// (YGGR_FOOTPRINT_HEAP profiles the heap at rest, YGGR_FOOTPRINT_HEAP_WRITING
// after 90% of the transactions, as of the collection before.)
//
// The numbers are logged; the test fails only if a key is missing. Run it
// alone: RSS is the whole test process.
func TestFootprint1M(t *testing.T) {
	if os.Getenv("YGGR_FOOTPRINT") != "1" {
		t.Skip("set YGGR_FOOTPRINT=1 to measure (about a minute)")
	}
	const txns, perTxn = 10000, 100
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) []byte {
		k := binary.BigEndian.AppendUint64(nil, uint64(i)*0x9E3779B97F4A7C15)
		return binary.BigEndian.AppendUint64(k, uint64(i))
	}
	value := make([]byte, 128)
	var peakHeap uint64
	// At the sample with the most heap in use: the live heap as of the
	// collection before it and the collector's goal, which split the peak
	// into what is live and what GOGC lets accumulate; and the heap's
	// free spans not yet returned to the OS, which RSS counts too.
	peakAt := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	var peakLive, peakGoal, peakFree uint64
	start := time.Now()
	for x := range txns {
		var tx Txn
		for j := range perTxn {
			tx.Then = append(tx.Then, Request{Op: OpPut, Key: key(x*perTxn + j), Value: value})
		}
		if _, err := db.Txn(ctx, tx); err != nil {
			t.Fatalf("txn %d: %v", x, err)
		}
		if x%100 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap {
				peakHeap = ms.HeapInuse
				metrics.Read(peakAt)
				peakLive, peakGoal, peakFree = peakAt[0].Value.Uint64(), peakAt[1].Value.Uint64(), peakAt[2].Value.Uint64()
			}
		}
		if x == txns*9/10 {
			writeHeapProfile(t, os.Getenv("YGGR_FOOTPRINT_HEAP_WRITING"))
		}
	}
	written := time.Since(start)
	rssWriting, hwm := procStatus(t, "VmRSS"), procStatus(t, "VmHWM")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("wrote %d keys in %d transactions in %v (%.0f keys/s)", txns*perTxn, txns, written.Round(time.Millisecond), float64(txns*perTxn)/written.Seconds())
	t.Logf("while writing: VmHWM %d MiB, VmRSS at the end %d MiB (RssAnon %d MiB, RssFile %d MiB: mapped files), peak heap in use (sampled) %d MiB",
		hwm>>20, rssWriting>>20, procStatus(t, "RssAnon")>>20, procStatus(t, "RssFile")>>20, peakHeap>>20)
	t.Logf("at that peak: live heap as of the last collection %d MiB, heap goal %d MiB, free heap not yet returned to the OS %d MiB",
		peakLive>>20, peakGoal>>20, peakFree>>20)
	t.Logf("at rest after GC: heap in use %d MiB (%.0f B/key), VmRSS %d MiB (RssAnon %d MiB); raw data 144 MB",
		ms.HeapInuse>>20, float64(ms.HeapInuse)/float64(txns*perTxn), procStatus(t, "VmRSS")>>20, procStatus(t, "RssAnon")>>20)
	logMappedFiles(t)
	t.Logf("data directory: %d MiB allocated on disk", dirBytes(t, dir)>>20)
	writeHeapProfile(t, os.Getenv("YGGR_FOOTPRINT_HEAP"))
	// Then what the reopen target names: a snapshot holding the 1M keys
	// and 100k log entries above it (single puts overwriting keys, 64 at a
	// time). The snapshot is taken here, not left to the automatic
	// trigger: whether one was in progress at Close (which finishes it)
	// decided how much the reopen replayed, from nothing to half the keys
	// and 100k entries (VmHWM 213 to 325 MiB from one run to the next).
	// 100k entries above it are just not more than MaxLogEntries, and
	// weigh far less than it, so no automatic snapshot follows them.
	var snapAt uint64
	for range 4 { // a snapshot in progress is joined: at most one more
		index, err := db.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snapAt = index; snapAt >= db.Status().Applied {
			break
		}
	}
	start = time.Now()
	const logEntries, writers = 100_000, 64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		// db is passed, not captured: a captured variable would keep the
		// closed store alive while the reopen is measured.
		go func(db *DB) {
			defer wg.Done()
			for i := w; i < logEntries; i += writers {
				if err := db.Put(ctx, key(i*7%(txns*perTxn)), value); err != nil {
					errs <- err
					return
				}
			}
		}(db)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := db.Status()
	t.Logf("then %d single puts in %v: log last index %d, snapshot index %d (%d entries above it)",
		logEntries, time.Since(start).Round(time.Millisecond), st.LastIndex, st.SnapshotIndex, st.LastIndex-st.SnapshotIndex)
	if st.SnapshotIndex != snapAt || st.LastIndex-st.SnapshotIndex < logEntries {
		t.Fatalf("snapshot index %d, last index %d: want the snapshot at %d and %d entries above it", st.SnapshotIndex, st.LastIndex, snapAt, logEntries)
	}
	closeStart := time.Now()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v (it finishes a snapshot in progress, uncapped, for up to 10 s)", time.Since(closeStart).Round(time.Millisecond))

	debug.FreeOSMemory()
	if p := os.Getenv("YGGR_FOOTPRINT_HEAP_REOPEN"); p != "" {
		writeHeapProfile(t, p+".before")
	}
	// Writing 5 to clear_refs resets VmHWM (Linux 4.0 and later), so that
	// the reopen's peak is its own.
	hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	if hwmReset {
		t.Logf("before the reopen: VmRSS %d MiB (RssAnon %d MiB): what the closed store left",
			procStatus(t, "VmRSS")>>20, procStatus(t, "RssAnon")>>20)
	}
	if p := os.Getenv("YGGR_FOOTPRINT_CPU_REOPEN"); p != "" { // a CPU profile of the reopen
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	// During Open, sampled every 2 ms: the peak of the Go runtime's
	// memory not returned to the OS (its share of RSS) and, at it, the
	// heap's objects, its free spans not yet returned, the live heap as of
	// the collection before and the collector's goal.
	samplerDone, samplerStop := make(chan []uint64, 1), make(chan struct{})
	go func() {
		sample := []metrics.Sample{
			{Name: "/memory/classes/total:bytes"},
			{Name: "/memory/classes/heap/released:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/free:bytes"},
			{Name: "/gc/heap/live:bytes"},
			{Name: "/gc/heap/goal:bytes"},
		}
		var peak []uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for range 60_000 { // 2 minutes at most
			metrics.Read(sample)
			if held := sample[0].Value.Uint64() - sample[1].Value.Uint64(); peak == nil || held > peak[0] {
				peak = []uint64{held}
				for _, s := range sample[2:] {
					peak = append(peak, s.Value.Uint64())
				}
			}
			select {
			case <-samplerStop:
				samplerDone <- peak
				return
			case <-tick.C:
			}
		}
		samplerDone <- peak
	}()
	start = time.Now()
	db, err = Open(dir, nil)
	close(samplerStop)
	openPeak := <-samplerDone
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opened := time.Since(start)
	t.Logf("reopen: Go runtime memory not returned to the OS, at its peak during Open %d MiB: heap objects %d MiB, free heap not yet returned %d MiB; live as of the collection before %d MiB, heap goal %d MiB",
		openPeak[0]>>20, openPeak[1]>>20, openPeak[2]>>20, openPeak[3]>>20, openPeak[4]>>20)
	got, err := db.Get(ctx, key(txns*perTxn-1))
	if err != nil || len(got) != len(value) {
		t.Fatalf("first read after reopening: %d bytes, %v", len(got), err)
	}
	served := time.Since(start)
	if st := db.Status(); st.SnapshotIndex != snapAt {
		t.Fatalf("reopened at snapshot %d, want %d (a snapshot was taken at Close: nothing to replay)", st.SnapshotIndex, snapAt)
	}
	runtime.ReadMemStats(&ms)
	t.Logf("reopen: Open %v, first linearizable read served %v after the start; heap in use %d MiB",
		opened.Round(time.Millisecond), served.Round(time.Millisecond), ms.HeapInuse>>20)
	if hwmReset {
		t.Logf("reopen: VmHWM %d MiB, VmRSS %d MiB (RssAnon %d MiB, RssFile %d MiB)",
			procStatus(t, "VmHWM")>>20, procStatus(t, "VmRSS")>>20, procStatus(t, "RssAnon")>>20, procStatus(t, "RssFile")>>20)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("reopen, after GC: heap in use %d MiB", ms.HeapInuse>>20)
	// Profiles as of the last collection: the one before Open and this
	// one; pprof -base shows what the reopen allocated (alloc_space).
	writeHeapProfile(t, os.Getenv("YGGR_FOOTPRINT_HEAP_REOPEN"))
	for _, i := range []int{0, txns*perTxn/2 + 7, txns*perTxn - 1} {
		if _, err := db.Get(ctx, key(i), WithConsistency(Stale)); err != nil {
			t.Errorf("key %d after reopening: %v", i, err)
		}
	}
}

// writeHeapProfile writes a heap profile (as of the last collection) to
// path, if set.
func writeHeapProfile(t *testing.T, path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}

// procStatus returns a size field of /proc/self/status in bytes.
func procStatus(t *testing.T, field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", field, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// logMappedFiles logs the resident memory of the process's mappings, by
// file extension ("anon" for anonymous memory), the largest first.
func logMappedFiles(t *testing.T) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Logf("no smaps: %v", err)
		return
	}
	defer f.Close()
	rss := map[string]uint64{}
	cur := "anon"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			cur = "anon"
			if len(fields) >= 6 {
				cur = filepath.Ext(fields[5])
			}
		case len(fields) >= 2 && fields[0] == "Rss:":
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			rss[cur] += kb << 10
		}
	}
	var names []string
	for n := range rss {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(rss[b], rss[a]) })
	var parts []string
	for _, n := range names[:min(4, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %d MiB", n, rss[n]>>20))
	}
	t.Logf("resident memory by mapping: %s", strings.Join(parts, ", "))
}

// dirBytes returns the bytes the files under dir allocate on disk.
func dirBytes(t *testing.T, dir string) uint64 {
	var n uint64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += uint64(st.Blocks) * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
