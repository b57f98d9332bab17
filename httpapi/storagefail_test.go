package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/diskfault"
	"github.com/yggrdb/yggr/internal/testutil"
)

// A node whose disk fails answers 503 storage_failed to writes, reads and
// /readyz, names the failed file there and in /v1/status, and a Client
// matches the answer with yggr.ErrStorage.
func TestStorageFailureIsNotReady(t *testing.T) {
	dir := t.TempDir()
	db, err := yggr.Open(dir, nil, yggr.WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.WaitLeader(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, db, Options{})
	if got := send(t, srv, "GET", "/readyz", nil, nil); got.status != 200 {
		t.Fatalf("readyz before the fault = %d %q", got.status, got.body)
	}
	var failedPath atomic.Pointer[string]
	t.Cleanup(diskfault.Set(func(op diskfault.Op, path string) error {
		if op == diskfault.WALWrite && strings.HasPrefix(path, dir+string(filepath.Separator)) {
			failedPath.Store(&path)
			return syscall.EIO
		}
		return nil
	}))
	if got := send(t, srv, "PUT", "/v1/kv/k", strings.NewReader("v"), nil); got.status != 503 || errCode(t, got) != CodeStorage {
		t.Errorf("PUT with a failing disk = %d %q, want 503 %s", got.status, got.body, CodeStorage)
	}
	failed := *failedPath.Load()
	for _, path := range []string{"/readyz", "/v1/kv/k", "/v1/kv/k?consistency=stale"} {
		got := send(t, srv, "GET", path, nil, nil)
		if got.status != 503 || errCode(t, got) != CodeStorage || !strings.Contains(string(got.body), failed) {
			t.Errorf("GET %s after the fault = %d %q, want 503 %s naming %s", path, got.status, got.body, CodeStorage, failed)
		}
	}
	var st yggr.Status
	if got := send(t, srv, "GET", "/v1/status", nil, nil); json.Unmarshal(got.body, &st) != nil || !strings.Contains(st.StorageError, failed) {
		t.Errorf("status = %q, want storage_error naming %s", got.body, failed)
	}
	c := newClient(t, []string{srv.URL}, ClientOptions{})
	if _, err := c.Put(testCtx(t), []byte("k"), []byte("v")); !errors.Is(err, yggr.ErrStorage) {
		t.Errorf("Client.Put = %v, want ErrStorage", err)
	}
}

// A node whose disk has not finished a write for an election timeout is
// not ready (storage_stalled), and is ready again once the write returns.
func TestStalledDiskIsNotReady(t *testing.T) {
	dir := t.TempDir()
	db, err := yggr.Open(dir, nil, yggr.WithTiming(10*time.Millisecond, 5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.WaitLeader(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, db, Options{})
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	var stalled atomic.Bool
	restore := diskfault.Set(func(op diskfault.Op, path string) error {
		if op == diskfault.WALSync && strings.HasPrefix(path, dir+string(filepath.Separator)) {
			stalled.Store(true)
			<-gate
		}
		return nil
	})
	t.Cleanup(func() { release(); restore() })
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go db.Put(ctx, []byte("k"), []byte("v"))
	testutil.WaitFor(t, "the write to stall", stalled.Load)
	testutil.WaitFor(t, "readyz to say the disk stalled", func() bool {
		got := send(t, srv, "GET", "/readyz", nil, nil)
		return got.status == 503 && errCode(t, got) == CodeStorageStalled
	})
	release()
	testutil.WaitFor(t, "readyz once the write returned", func() bool {
		return send(t, srv, "GET", "/readyz", nil, nil).status == 200
	})
}
