package log

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pageOutUnsupported is set once madvise(MADV_PAGEOUT) failed with EINVAL
// (Linux before 5.4): the pages then stay until the kernel reclaims them.
var pageOutUnsupported atomic.Bool

// pageOutValueLog asks the kernel to reclaim the resident pages of the
// store's value-log files, the newest included. Badger maps each value-log file and writes it
// through the mapping, so every page of the log it holds stays in the
// process's RSS (as file-backed pages) until the file is deleted: for
// issue 15's load, up to the whole log above the snapshot, 140 MiB. The
// pages are clean (Badger syncs each write) and rarely read again: only a
// follower far behind or a restart reads entries the engine no longer
// caches, and those reads fault the pages back in from the file. The
// newest file is being written: the next checkpoint's first write reads
// its partly written last page back (one page per checkpoint), and the
// pages it writes stay resident until the next call. Keeping the newest
// file resident instead kept up to its whole size, 8-10 MiB of RSS in
// TestFootprint1M.
//
// It reads /proc/self/maps and calls madvise(MADV_PAGEOUT) on the ranges
// that map those files. MADV_PAGEOUT never changes memory contents, so a
// range that Badger unmapped (and something else mapped) in between is
// only paged out, not lost. The caller holds badgerMu, so that the
// checkpoint and the value-log GC (which write, rotate and delete the
// files) do not run meanwhile. Errors are ignored: this only saves memory.
func (s *Store) pageOutValueLog() {
	if s.opts.InMemory || pageOutUnsupported.Load() {
		return
	}
	dir := s.vlogDir
	if dir == "" {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	type span struct{ start, end uintptr }
	var spans []span
	for len(maps) > 0 {
		line := maps
		if i := bytes.IndexByte(maps, '\n'); i >= 0 {
			line, maps = maps[:i], maps[i+1:]
		} else {
			maps = nil
		}
		// start-end perms offset dev inode path (which may hold spaces;
		// a deleted file's ends in " (deleted)")
		i := bytes.IndexByte(line, '/')
		if i < 0 {
			continue
		}
		path := string(line[i:])
		f := strings.Fields(string(line[:i]))
		if len(f) != 5 || !strings.HasSuffix(path, ".vlog") || filepath.Dir(path) != dir {
			continue
		}
		if _, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".vlog"), 10, 32); err != nil {
			continue // not a value-log file Badger named
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	for _, sp := range spans {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, sp.start, sp.end-sp.start, unix.MADV_PAGEOUT)
		if errno == unix.EINVAL {
			pageOutUnsupported.Store(true)
			return
		}
	}
}
