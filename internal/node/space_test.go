package node

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDisk is a file system whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) statfs(string) (uint64, error) { return d.free.Load(), nil }

func TestDiskGuardAdmit(t *testing.T) {
	var d fakeDisk
	d.free.Store(70 << 20)
	g := &diskGuard{reserve: 64 << 20, dir: "/data", free: d.statfs}
	if err := g.admit(1 << 20); err != nil {
		t.Fatalf("70 MiB free, reserve 64 MiB, write 1 MiB: %v", err)
	}
	// Admitted bytes count twice (WAL and Badger) until the next statfs:
	// 70 - 2×(1+2) = 64 MiB is still the reserve; one more byte is not.
	if err := g.admit(2 << 20); err != nil {
		t.Fatalf("write down to the reserve exactly: %v", err)
	}
	err := g.admit(1)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("write below the reserve: err = %v, want ErrNoSpace", err)
	}
	for _, want := range []string{"/data", "reserve is 67108864"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// A fresh statfs forgets what was admitted: the disk says.
	g.checkedAt = time.Time{}
	d.free.Store(1 << 40)
	if err := g.admit(diskCheckBytes); err != nil {
		t.Fatalf("after space came back: %v", err)
	}
	if free, ok := g.freeBytes(); !ok || free != 1<<40 {
		t.Errorf("freeBytes = %d, %v; want 1 TiB", free, ok)
	}
	// diskCheckBytes admitted since the last statfs make the next admit
	// read the disk again, before diskCheckEvery passed.
	d.free.Store(10 << 20)
	if err := g.admit(1); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("after %d bytes admitted the guard must read the disk again: err = %v", diskCheckBytes, err)
	}
	// A statfs that fails does not stop writes, and a nil guard admits all.
	g = &diskGuard{reserve: 1, free: func(string) (uint64, error) { return 0, errors.New("no statfs") }}
	if err := g.admit(1); err != nil {
		t.Errorf("unknown free space: %v", err)
	}
	if err := (*diskGuard)(nil).admit(1 << 30); err != nil {
		t.Errorf("nil guard: %v", err)
	}
}

// expireDiskCheck makes the guard read the disk at its next use, as if
// diskCheckEvery had passed.
func expireDiskCheck(g *diskGuard) {
	g.mu.Lock()
	g.checkedAt = time.Time{}
	g.mu.Unlock()
}

// TestNoSpaceRefusesWrites: a single node whose disk falls below the
// reserve refuses proposals with ErrNoSpace and still serves reads; once
// space is back it accepts writes again.
func TestNoSpaceRefusesWrites(t *testing.T) {
	var d fakeDisk
	d.free.Store(1 << 40)
	n, err := Start(Config{ID: "n1", Dir: t.TempDir(), StateMachine: &bytesMachine{}, freeBytes: d.statfs,
		TickInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := n.Propose(ctx, []byte("a")); err != nil {
		t.Fatalf("Propose with room: %v", err)
	}
	d.free.Store(DefaultDiskReserve - 1)
	expireDiskCheck(n.disk)
	if _, _, err := n.Propose(ctx, []byte("b")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Propose below the reserve: err = %v, want ErrNoSpace", err)
	}
	if _, err := n.ReadIndex(ctx, 0); err != nil {
		t.Fatalf("ReadIndex below the reserve: %v", err)
	}
	if m := n.Metrics(); m.DiskFreeBytes != DefaultDiskReserve-1 || m.DiskReserveBytes != DefaultDiskReserve {
		t.Errorf("metrics: free %d reserve %d", m.DiskFreeBytes, m.DiskReserveBytes)
	}
	d.free.Store(1 << 40)
	expireDiskCheck(n.disk)
	if _, _, err := n.Propose(ctx, []byte("c")); err != nil {
		t.Fatalf("Propose after space came back: %v", err)
	}
}
