package yggr

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestOpenFormatV1 opens a data directory written by yggr v0.1 (log format
// 1, snapshot manifest version 1; testdata/node-v1.tar.gz, described in
// testdata/README.md): Open migrates it, every key reads back as written,
// and it keeps working and reopens.
func TestOpenFormatV1(t *testing.T) {
	root := t.TempDir()
	untarFixture(t, filepath.Join("testdata", "node-v1.tar.gz"), root)
	dir := filepath.Join(root, "node")
	ctx := testCtx(t)
	for round := range 2 {
		db, err := Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: Open of a format 1 directory: %v", round, err)
		}
		for i := range 70 {
			key := fmt.Sprintf("key/%03d", i)
			want := fmt.Sprintf("value-%d", i)
			switch i {
			case 7:
				want = ""
			case 10:
				want = "rewritten"
			}
			got, err := db.Get(ctx, []byte(key))
			if want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("round %d: Get(%s) = %q, %v; want ErrNotFound", round, key, got, err)
				}
				continue
			}
			if err != nil || string(got) != want {
				t.Errorf("round %d: Get(%s) = %q, %v; want %q", round, key, got, err, want)
			}
		}
		if st := db.Status(); st.Applied < 73 {
			t.Errorf("round %d: applied %d, want at least 73", round, st.Applied)
		}
		if err := db.Put(ctx, []byte(fmt.Sprintf("round/%d", round)), []byte("x")); err != nil {
			t.Fatalf("round %d: Put: %v", round, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Migrated to log format 2, format 1's identity record carried over
	// (log/migrate.go): the earlier releases of format 2 still open it.
	if format, id := logFormat(t, dir); format != 2 || !id {
		t.Errorf("after the migration: log format %d, identity record %v; want format 2 with the record", format, id)
	}
}

// logFormat reads the log of the closed node directory dir, read-only: the
// directory format its format record names (log/format.go: Badger key
// 'f', whose value starts with the format) and whether it holds an
// identity record (key 'i').
func logFormat(t *testing.T, dir string) (format byte, identityRecord bool) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "raft")).WithReadOnly(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte{'f'})
		if err != nil {
			return fmt.Errorf("format record: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil || len(v) == 0 {
			return fmt.Errorf("format record %x: %v", v, err)
		}
		format = v[0]
		_, err = txn.Get([]byte{'i'})
		identityRecord = err == nil
		if errors.Is(err, badger.ErrKeyNotFound) {
			err = nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return format, identityRecord
}

// untarFixture extracts the gzipped tar archive at path into dir.
func untarFixture(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o700)
		case tar.TypeReg:
			err = writeFixtureFile(target, tr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func writeFixtureFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
