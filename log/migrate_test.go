package log

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

// untar extracts the gzipped tar archive at path into dir.
func untar(t *testing.T, path, dir string) {
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
			if err := os.MkdirAll(target, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}

// v1Fixture extracts testdata/store-v1.tar.gz (see testdata/README.md) and
// returns the store directory.
func v1Fixture(t *testing.T) string {
	dir := t.TempDir()
	untar(t, filepath.Join("testdata", "store-v1.tar.gz"), dir)
	return dir
}

// v1FixtureState is what testdata/README.md says the fixture holds.
func v1FixtureState() State {
	var es []engine.Entry
	for i := uint64(13); i <= 31; i++ {
		e := engine.Entry{Index: i, Term: 1, Type: engine.EntryNormal, Data: []byte(fmt.Sprintf("entry %d", i))}
		if i > 20 {
			e.Term = 3
		}
		if i == 21 {
			e.Type, e.Data = engine.EntryNoop, nil
		}
		if i == 31 {
			e.Type = engine.EntryConfig
			e.Data = engine.MarshalConfig(engine.ConfChange{Op: engine.ConfAddLearner, Node: "n4", Addr: "127.0.0.1:7401"},
				engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"}))
		}
		es = append(es, e)
	}
	return State{
		HardState: engine.HardState{Term: 3, Vote: "n3", Commit: 25},
		Snapshot:  engine.SnapshotMeta{Index: 12, Term: 1, Size: 4096, Membership: engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, nil)},
		Entries:   es,
	}
}

// countKeys counts Badger keys with the given first byte.
func countKeys(t *testing.T, s *Store, kind byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kind}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMigrateV1 opens a directory written by format 1 (a committed
// fixture): Open migrates it in place, everything reads back, and the
// format 1 keys are gone.
func TestMigrateV1(t *testing.T) {
	dir := v1Fixture(t)
	if _, err := Open(dir, Options{ClusterID: "c0ffee", NodeID: "n1"}); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("Open as another node = %v, want ErrIdentityMismatch", err)
	}
	want := v1FixtureState()
	for round := range 2 {
		s := openDisk(t, dir, Options{ClusterID: "c0ffee", NodeID: "n2"})
		if diff := cmp.Diff(want, mustLoad(t, s), cmpEntries); diff != "" {
			t.Fatalf("round %d: Load after migration (-want +got):\n%s", round, diff)
		}
		if n := countKeys(t, s, v1KindEntry); n != 0 {
			t.Errorf("round %d: %d format 1 entry keys left", round, n)
		}
		if n := countKeys(t, s, kindFormat); n != 1 {
			t.Errorf("round %d: %d format records", round, n)
		}
		// Format 2, with format 1's identity record carried over.
		if got := storeFormat(t, s); got != formatV2 {
			t.Errorf("round %d: format %d after the migration, want %d", round, got, formatV2)
		}
		if n := countKeys(t, s, kindIdentity); n != 1 {
			t.Errorf("round %d: %d identity records after the migration, want 1", round, n)
		}
		if round == 0 {
			e := engine.Entry{Index: 32, Term: 3, Data: []byte("after")}
			mustWrite(t, s, Batch{Entries: []engine.Entry{e}})
			want.Entries = append(want.Entries, e)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMigrateV1Interrupted: a crash before the migration's last commit
// leaves a format 1 directory (with some runs already written), which the
// next Open migrates again.
func TestMigrateV1Interrupted(t *testing.T) {
	dir := v1Fixture(t)
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		es := v1FixtureState().Entries[:3]
		id := runOf(es, 1)
		return txn.Set(id.key(), encodeRun(id, es))
	})
	s := openDisk(t, dir, Options{ClusterID: "c0ffee", NodeID: "n2"})
	if diff := cmp.Diff(v1FixtureState(), mustLoad(t, s), cmpEntries); diff != "" {
		t.Fatalf("Load after migration (-want +got):\n%s", diff)
	}
}

// TestMigrateV1Damage: format 1's recovery rules hold during the
// migration: a torn tail is dropped with a note, damage in the middle is
// refused.
func TestMigrateV1Damage(t *testing.T) {
	t.Run("torn tail", func(t *testing.T) {
		dir := v1Fixture(t)
		rawUpdate(t, dir, func(txn *badger.Txn) error {
			return txn.Set(v1EntryKeyFor(32), []byte("\x01torn"))
		})
		s := openDisk(t, dir, Options{ClusterID: "c0ffee", NodeID: "n2"})
		st := mustLoad(t, s)
		if len(st.Entries) != 19 || len(st.Dropped) != 1 || !strings.Contains(st.Dropped[0], "entry 32") {
			t.Fatalf("Load: %d entries, dropped %q; want 19 entries and a note on entry 32", len(st.Entries), st.Dropped)
		}
	})
	t.Run("damage in the middle", func(t *testing.T) {
		dir := v1Fixture(t)
		rawUpdate(t, dir, func(txn *badger.Txn) error {
			v := rawGet(txn, v1EntryKeyFor(20))
			v[len(v)/2] ^= 0x10
			return txn.Set(v1EntryKeyFor(20), v)
		})
		checkCorrupt(t, "Open", func() error {
			s, err := Open(dir, Options{ClusterID: "c0ffee", NodeID: "n2"})
			if err == nil {
				s.Close()
			}
			return err
		}, "entry 20")
	})
}
