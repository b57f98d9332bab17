package yggr

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

// TestFullDisk writes 1 MB values to a node on a small tmpfs until the
// disk reserve refuses them: the process must not fault (Badger's mapped
// files SIGBUS on a full file system), the refusal is ErrNoSpace, reads
// go on, every acknowledged write reads back, and once the file system
// grows the node takes writes again. It needs root (to mount a tmpfs) and
// skips otherwise.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	ctx := testCtx(t)
	db, err := Open(filepath.Join(mnt, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := bytes.Repeat([]byte{0x5a}, 1_000_000)
	acked := 0
	for i := 0; i < 400; i++ {
		err = db.Put(ctx, fmt.Appendf(nil, "k%03d", i), value)
		if err != nil {
			break
		}
		acked++
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("after %d writes of 1 MB on a 160 MiB tmpfs: err = %v, want ErrNoSpace", acked, err)
	}
	if acked == 0 {
		t.Fatal("no write fitted before the reserve")
	}
	m := db.Metrics()
	// Free space is as last read: up to 4 MiB (the guard's re-read
	// interval in bytes) admitted since count twice, plus the refused value.
	if m.DiskReserveBytes != 64<<20 || m.DiskFreeBytes >= 64<<20+2*(4<<20)+2_000_000 {
		t.Errorf("metrics: free %d, reserve %d", m.DiskFreeBytes, m.DiskReserveBytes)
	}
	for i := 0; i < acked; i++ {
		got, err := db.Get(ctx, fmt.Appendf(nil, "k%03d", i))
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("read of acknowledged write %d on a full disk: %d bytes, %v", i, len(got), err)
		}
	}
	if out, err := exec.Command("mount", "-o", "remount,size=400m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	testutil.WaitFor(t, "writes to be accepted once the disk grew", func() bool {
		err := db.Put(ctx, []byte("after"), value)
		if err != nil && !errors.Is(err, ErrNoSpace) {
			t.Fatalf("write after the disk grew: %v", err)
		}
		return err == nil
	})
}
