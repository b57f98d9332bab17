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

// The fixtures of log formats 2 and 3: testdata/node-v2.tar.gz and
// node-v3.tar.gz are single-node data directories with the same contents,
// written by TestWriteFixtureV2 and TestWriteFixtureV3 with the releases of
// those formats (described in testdata/README.md). Every later release must
// keep opening them: TestOpenFormatV2, TestOpenFormatV3.

const fixtureLeaseTTL = 30 * 24 * time.Hour

// TestWriteFixtureV2 writes testdata/node-v2.tar.gz and TestWriteFixtureV3
// testdata/node-v3.tar.gz. They are skipped unless YGGR_WRITE_FIXTURE=1
// (and YGGR_FIXTURE names the one to write): a fixture is written once, by
// the release whose format it records, and committed; never regenerate a
// released one.
func TestWriteFixtureV2(t *testing.T) { writeFixture(t, "node-v2.tar.gz") }

// TestWriteFixtureV3: see TestWriteFixtureV2.
func TestWriteFixtureV3(t *testing.T) { writeFixture(t, "node-v3.tar.gz") }

func writeFixture(t *testing.T, name string) {
	if os.Getenv("YGGR_WRITE_FIXTURE") != "1" || os.Getenv("YGGR_FIXTURE") != name {
		t.Skipf("set YGGR_WRITE_FIXTURE=1 YGGR_FIXTURE=%s to rewrite testdata/%s", name, name)
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
	writeFixtureTar(t, root, filepath.Join("testdata", name))
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
// added and removed is gone, and the node takes writes and reopens. It
// keeps log format 2 and its identity record (log/format.go), so the
// release that wrote it still opens it.
func TestOpenFormatV2(t *testing.T) { openFixture(t, "node-v2.tar.gz", 2, true) }

// TestOpenFormatV3 opens the format 3 fixture (the first release whose
// directories record no identity in the log) the same way.
func TestOpenFormatV3(t *testing.T) { openFixture(t, "node-v3.tar.gz", 3, false) }

// openFixture opens a fixture written by writeFixture twice, checking its
// contents, writing to it, and checking that it keeps log format and,
// if identity, the log's identity record.
func openFixture(t *testing.T, name string, format byte, identity bool) {
	root := t.TempDir()
	untarFixture(t, filepath.Join("testdata", name), root)
	dir := filepath.Join(root, "node")
	ctx := testCtx(t)
	for round := range 2 {
		db, err := Open(dir, []string{"n1=" + freeUDPAddr(t)}, WithID("n1"), WithInsecure())
		if err != nil {
			t.Fatalf("round %d: Open of the fixture %s: %v", round, name, err)
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
		if f, id := logFormat(t, dir); f != format || id != identity {
			t.Errorf("round %d: log format %d, identity record %v; want format %d, identity record %v", round, f, id, format, identity)
		}
	}
}
