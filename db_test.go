package yggr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSingleNodePutGetDelete(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Consistency{Linearizable, Stale} {
		got, err := db.Get(ctx, []byte("k"), WithConsistency(c))
		if err != nil || string(got) != "v" {
			t.Fatalf("Get(%s) = %q, %v; want v", c, got, err)
		}
	}
	// Get reports the revision it read at, found or not: at least the
	// put's (the applied index), as GetItem does.
	var rev, itemRev uint64
	if _, err := db.Get(ctx, []byte("k"), ReadRevision(&rev)); err != nil {
		t.Fatal(err)
	}
	it, err := db.GetItem(ctx, []byte("k"), ReadRevision(&itemRev))
	if err != nil || rev < it.ModIndex || itemRev < rev {
		t.Fatalf("Get's revision %d, GetItem's %d (err %v); want ModIndex %d <= Get's <= GetItem's", rev, itemRev, err, it.ModIndex)
	}
	rev = 0
	if _, err := db.Get(ctx, []byte("absent"), ReadRevision(&rev)); !errors.Is(err, ErrNotFound) || rev < it.ModIndex {
		t.Fatalf("Get(absent) = %v at revision %d; want ErrNotFound at >= %d", err, rev, it.ModIndex)
	}
	if _, err := db.Get(ctx, []byte("k"), WithConsistency(Lease)); !errors.Is(err, ErrLeaseDisabled) {
		t.Fatalf("Lease read without WithLeaseReads: err = %v, want ErrLeaseDisabled", err)
	}
	if err := db.Delete(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(ctx, []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete: err = %v, want ErrNotFound", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSingleNodeSurvivesRestart(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 150; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, more, err := db.List(ctx, nil, nil, 0)
	if err != nil || more || len(items) != 150 {
		t.Fatalf("List after restart: %d items, more=%v, err=%v; want 150", len(items), more, err)
	}
	for i, it := range items {
		if want := fmt.Sprintf("k%03d", i); string(it.Key) != want || !bytes.Equal(it.Value, []byte(fmt.Sprint(i))) {
			t.Fatalf("item %d = %q=%q", i, it.Key, it.Value)
		}
	}
}
