package node

import (
	"fmt"
	"sync"
	"time"

	raftlog "github.com/yggrdb/yggr/log"
)

// DefaultDiskReserve is the free space below which a leader refuses new
// writes (Config.DiskReserve).
const DefaultDiskReserve = 64 << 20

// diskGuard refuses proposals while the file system holding the data
// directory has less free space than the reserve, so that a node never
// writes until the disk is full: there Badger's memory-mapped files fault
// (SIGBUS) instead of returning an error. The check is on the node that
// appends the proposal, the leader; reads and everything already accepted
// go on, and writes are accepted again as soon as space is back.
//
// Free space is read with statfs at most every diskCheckEvery, or sooner
// once diskCheckBytes were admitted since; meanwhile each admitted byte
// counts twice against it, for the write-ahead log record and for its
// copy into Badger.
type diskGuard struct {
	reserve uint64
	dir     string
	free    func(path string) (uint64, error)

	mu        sync.Mutex
	lastFree  uint64
	checkedAt time.Time
	admitted  uint64 // bytes admitted since checkedAt
	known     bool   // lastFree was read successfully
}

const (
	diskCheckEvery = 200 * time.Millisecond
	diskCheckBytes = 4 << 20
)

// admit reports ErrNoSpace if a proposal of size bytes would leave less
// than the reserve free.
func (g *diskGuard) admit(size int) error {
	if g == nil || g.reserve == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := time.Now(); now.Sub(g.checkedAt) >= diskCheckEvery || g.admitted >= diskCheckBytes {
		g.refreshLocked(now)
	}
	if !g.known {
		return nil // statfs fails: do not guess
	}
	used := 2 * (g.admitted + uint64(size))
	if g.lastFree < used || g.lastFree-used < g.reserve {
		return fmt.Errorf("%w: %d bytes free for %s, the reserve is %d", ErrNoSpace, g.lastFree, g.dir, g.reserve)
	}
	g.admitted += uint64(size)
	return nil
}

func (g *diskGuard) refreshLocked(now time.Time) {
	free, err := g.free(g.dir)
	g.known = err == nil
	g.lastFree, g.checkedAt, g.admitted = free, now, 0
}

// freeBytes returns the last free space read (and whether it is known),
// reading it again if it is older than diskCheckEvery.
func (g *diskGuard) freeBytes() (uint64, bool) {
	if g == nil {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := time.Now(); now.Sub(g.checkedAt) >= diskCheckEvery {
		g.refreshLocked(now)
	}
	return g.lastFree, g.known
}

// newDiskGuard returns the guard that cfg asks for, or nil (in memory, or
// DiskReserve negative).
func newDiskGuard(cfg Config) *diskGuard {
	if cfg.InMemory || cfg.DiskReserve < 0 {
		return nil
	}
	free := cfg.freeBytes
	if free == nil {
		free = raftlog.FreeBytes
	}
	return &diskGuard{reserve: uint64(cfg.DiskReserve), dir: cfg.Dir, free: free}
}
