package kv

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeKiB returns the AnonHugePages (KiB) of the mapping that holds
// addr, from /proc/self/smaps. (The kernel may have merged the slab's
// mapping with a neighbour of the same flags: another slab.)
func hugeKiB(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header starts "lo-hi perms ..."; its fields are "Name: value".
		fields := strings.Fields(line)
		if len(fields) > 0 && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			found = found || in
			continue
		}
		if in && fields[0] == "AnonHugePages:" && len(fields) > 1 {
			n, _ := strconv.Atoi(fields[1])
			return n
		}
	}
	if !found {
		t.Fatalf("no mapping holds %#x in /proc/self/smaps", addr)
	}
	return 0
}

// residentPages counts the pages of mem that are in memory (mincore).
func residentPages(t *testing.T, mem []byte) (resident, pages int) {
	t.Helper()
	ps := os.Getpagesize()
	vec := make([]byte, (len(mem)+ps-1)/ps)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(mem))), uintptr(len(mem)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			resident++
		}
	}
	return resident, len(vec)
}

// TestMapSlab checks that a slab is aligned on a huge page, resident in
// full as soon as it is mapped (so that the writes filling it take no page
// faults), and, where transparent huge pages may be used, one huge page.
func TestMapSlab(t *testing.T) {
	thp, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	wantHuge := strings.Contains(string(thp), "[always]") || strings.Contains(string(thp), "[madvise]")
	gotHuge := false
	// A huge page can be missing when memory is fragmented: one of a few
	// slabs is enough to show that they are asked for.
	for range 4 {
		mem, unmap := mapSlab(slabBytes)
		if unmap == nil {
			t.Fatal("mapSlab fell back to the Go heap")
		}
		if len(mem) != slabBytes || cap(mem) != slabBytes {
			t.Fatalf("slab of len %d cap %d, want %d", len(mem), cap(mem), slabBytes)
		}
		if a := addrOf(mem); a%hugePageBytes != 0 {
			t.Fatalf("slab at %#x is not aligned on %d", a, hugePageBytes)
		}
		if r, n := residentPages(t, mem); r != n {
			t.Errorf("%d of the slab's %d pages resident right after mapping, want all", r, n)
		}
		mem[0], mem[len(mem)-1] = 1, 2 // writable end to end
		gotHuge = gotHuge || hugeKiB(t, addrOf(mem)) >= slabBytes>>10
		unmap(mem)
		if gotHuge {
			break
		}
	}
	if wantHuge && !gotHuge {
		t.Errorf("transparent huge pages are enabled (%q) but no slab got one", strings.TrimSpace(string(thp)))
	}
}

// TestMapSlabPopulateFallback checks the path for kernels without
// MADV_POPULATE_WRITE: MAP_POPULATE, resident at once as well.
func TestMapSlabPopulateFallback(t *testing.T) {
	noPopulateWrite.Store(true)
	t.Cleanup(func() { noPopulateWrite.Store(false) })
	mem, unmap := mapSlab(slabBytes)
	if unmap == nil || len(mem) != slabBytes {
		t.Fatalf("fallback slab: len %d, unmap set %v", len(mem), unmap != nil)
	}
	defer unmap(mem)
	if r, n := residentPages(t, mem); r != n {
		t.Errorf("%d of the fallback slab's %d pages resident right after mapping, want all", r, n)
	}
}

// TestMapTrimmed checks the path of mapAligned for kernels that do not
// align large anonymous mappings: the aligned middle of a larger mapping,
// with the ends unmapped.
func TestMapTrimmed(t *testing.T) {
	for _, n := range []int{hugePageBytes, 2 * hugePageBytes} {
		for range 3 {
			mem, err := mapTrimmed(n)
			if err != nil {
				t.Fatal(err)
			}
			if len(mem) != n || cap(mem) != n || addrOf(mem)%hugePageBytes != 0 {
				t.Fatalf("mapTrimmed(%d): len %d cap %d at %#x", n, len(mem), cap(mem), addrOf(mem))
			}
			mem[0], mem[n-1] = 1, 1 // mapped end to end
			unmapSlab(mem)
		}
	}
}
