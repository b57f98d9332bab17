package yggr

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The format 2 fixture: testdata/node-v2.tar.gz is a single-node data
// directory written by TestWriteFixtureV2 (described in testdata/README.md).
// Every later release must keep opening it: TestOpenFormatV2.

const fixtureLeaseTTL = 30 * 24 * time.Hour

// TestWriteFixtureV2 writes testdata/node-v2.tar.gz. It is skipped unless
// YGGR_WRITE_FIXTURE=1: the fixture is written once, by the format it
// records, and committed.
func TestWriteFixtureV2(t *testing.T) {
	if os.Getenv("YGGR_WRITE_FIXTURE") != "1" {
		t.Skip("set YGGR_WRITE_FIXTURE=1 to rewrite testdata/node-v2.tar.gz")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "node")
	ctx := testCtx(t)
	// A peer listener, so that the node can add a learner: a node with data
	// reopens from its directory alone, whatever peers it is given then.
	db, err := Open(dir, []string{"n1=" + freeUDPAddr(t)}, WithID("n1"), WithInsecure(), WithSnapshotEntries(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := db.Put(ctx, fmt.Appendf(nil, "key/%03d", i), fmt.Appendf(nil, "value-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	lease, err := db.Grant(ctx, fixtureLeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("leased/a"), []byte("held"), WithLease(lease)); err != nil {
		t.Fatal(err)
	}
	// The snapshot holds the lease table (state machine snapshot v2).
	if _, err := db.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.AddLearner(ctx, "n2", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveMember(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	for i := 40; i < 43; i++ {
		if err := db.Put(ctx, fmt.Appendf(nil, "key/%03d", i), fmt.Appendf(nil, "value-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete(ctx, []byte("key/007")); err != nil {
		t.Fatal(err)
	}
	st := db.Status()
	t.Logf("fixture: lease %d, snapshot %d, applied %d", lease, st.SnapshotIndex, st.Applied)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	writeFixtureTar(t, root, filepath.Join("testdata", "node-v2.tar.gz"))
}

func writeFixtureTar(t *testing.T, root, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		if d.Name() == "yggr.lock" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime = filepath.ToSlash(rel), time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenFormatV2 opens the format 2 fixture with the current code: every
// key, the lease and the key attached to it are there, the learner that was
// added and removed is gone, and the node takes writes and reopens.
func TestOpenFormatV2(t *testing.T) {
	root := t.TempDir()
	untarFixture(t, filepath.Join("testdata", "node-v2.tar.gz"), root)
	dir := filepath.Join(root, "node")
	ctx := testCtx(t)
	for round := range 2 {
		db, err := Open(dir, []string{"n1=" + freeUDPAddr(t)}, WithID("n1"), WithInsecure())
		if err != nil {
			t.Fatalf("round %d: Open of the format 2 fixture: %v", round, err)
		}
		for i := range 43 {
			key := fmt.Sprintf("key/%03d", i)
			got, err := db.Get(ctx, []byte(key))
			if i == 7 {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("round %d: Get(%s) = %q, %v; want ErrNotFound", round, key, got, err)
				}
				continue
			}
			if want := fmt.Sprintf("value-%d", i); err != nil || string(got) != want {
				t.Errorf("round %d: Get(%s) = %q, %v; want %q", round, key, got, err, want)
			}
		}
		if got, err := db.Get(ctx, []byte("leased/a")); err != nil || string(got) != "held" {
			t.Errorf("round %d: leased key = %q, %v", round, got, err)
		}
		leases, err := db.Leases(ctx)
		if err != nil || len(leases) != 1 {
			t.Fatalf("round %d: Leases = %v, %v; want the fixture's one lease", round, leases, err)
		}
		info, err := db.TimeToLive(ctx, leases[0].ID)
		if err != nil || info.TTL != fixtureLeaseTTL || len(info.Keys) != 1 || string(info.Keys[0]) != "leased/a" {
			t.Errorf("round %d: TimeToLive = %+v, %v", round, info, err)
		}
		st := db.Status()
		if st.SnapshotIndex == 0 || len(st.Members) != 1 || st.Members[0].ID != "n1" {
			t.Errorf("round %d: status %+v: want a snapshot and n1 alone", round, st)
		}
		if err := db.Put(ctx, fmt.Appendf(nil, "round/%d", round), []byte("x")); err != nil {
			t.Fatalf("round %d: Put: %v", round, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		// It keeps log format 2 and its identity record (log/format.go),
		// so the release that wrote it still opens it.
		if format, id := logFormat(t, dir); format != 2 || !id {
			t.Errorf("round %d: log format %d, identity record %v; want format 2 with the record", round, format, id)
		}
	}
}
