package log

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

// rawUpdate changes the Badger database of the closed store in dir directly.
func rawUpdate(t *testing.T, dir string, f func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "raft"), Options{}, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func rawGet(txn *badger.Txn, key []byte) []byte {
	item, err := txn.Get(key)
	if err != nil {
		panic(err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		panic(err)
	}
	return v
}

// damages of the record at entry 5, in a log of entries 1..10 of term 2.
var entryDamages = []struct {
	name   string
	damage func(txn *badger.Txn) error
}{
	{"flipped byte", func(txn *badger.Txn) error {
		v := rawGet(txn, entryKey(5))
		v[len(v)/2] ^= 0x40
		return txn.Set(entryKey(5), v)
	}},
	{"truncated", func(txn *badger.Txn) error {
		v := rawGet(txn, entryKey(5))
		return txn.Set(entryKey(5), v[:len(v)-3])
	}},
	{"empty", func(txn *badger.Txn) error { return txn.Set(entryKey(5), []byte{}) }},
	{"unknown version", func(txn *badger.Txn) error {
		v := rawGet(txn, entryKey(5))
		v[0] = 7
		return txn.Set(entryKey(5), v)
	}},
	{"misdirected write", func(txn *badger.Txn) error { return txn.Set(entryKey(5), rawGet(txn, entryKey(6))) }},
	{"missing", func(txn *badger.Txn) error { return txn.Delete(entryKey(5)) }},
}

func TestCorruptEntryInTheMiddle(t *testing.T) {
	for _, d := range entryDamages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{})
			mustWrite(t, s, Batch{Entries: ents(2, 1, 10)})

			// A live store notices on read.
			if err := s.db.Update(d.damage); err != nil {
				t.Fatal(err)
			}
			checkCorrupt(t, "Entries", func() error { _, err := s.Entries(1, 11, 1<<20); return err }, "entry 5", s.where)
			checkCorrupt(t, "Load", func() error { _, err := s.Load(); return err }, "entry 5", s.where)
			checkCorrupt(t, "Term", func() error { _, err := s.Term(5); return err }, "entry 5", s.where)
			if got, err := s.Entries(6, 11, 1<<20); err != nil || len(got) != 5 {
				t.Errorf("Entries(6, 11) = %d entries, %v; want 5, nil", len(got), err)
			}
			s.Close()

			// Open refuses it: a valid entry follows the bad one.
			checkCorrupt(t, "Open", func() error {
				s, err := Open(dir, Options{})
				if err == nil {
					s.Close()
				}
				return err
			}, "entry 5", filepath.Join(dir, "raft"))
		})
	}
}

func checkCorrupt(t *testing.T, op string, f func() error, wantIn ...string) {
	t.Helper()
	err := f()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s = %v, want ErrCorrupt", op, err)
	}
	for _, w := range wantIn {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s error %q does not mention %q", op, err, w)
		}
	}
}

func TestCorruptFixedRecords(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  []byte
	}{
		{"hard state record", keyHardState},
		{"snapshot record", keySnapshot},
		{"identity record", keyIdentity},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{})
			mustWrite(t, s, Batch{Entries: ents(2, 1, 10), HardState: &engine.HardState{Term: 2}})
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: 3, Term: 2}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			rawUpdate(t, dir, func(txn *badger.Txn) error {
				v := rawGet(txn, tt.key)
				v[1] ^= 1
				return txn.Set(tt.key, v)
			})
			checkCorrupt(t, "Open", func() error {
				s, err := Open(dir, Options{})
				if err == nil {
					s.Close()
				}
				return err
			}, tt.name, filepath.Join(dir, "raft"))
		})
	}
}

func TestTornTail(t *testing.T) {
	garbage := func(keys ...uint64) func(txn *badger.Txn) error {
		return func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Set(entryKey(k), []byte("\x01torn")); err != nil {
					return err
				}
			}
			return nil
		}
	}
	tests := []struct {
		name        string
		damage      func(txn *badger.Txn) error
		wantLast    uint64
		wantDropped []string // substrings, one per note
		wantErr     string   // if set, Open fails with ErrCorrupt mentioning it
	}{
		{
			name:        "last two records bad",
			damage:      garbage(9, 10),
			wantLast:    8,
			wantDropped: []string{"entry 9", "entry 10"},
		},
		{
			name:        "bad record then bad record after a gap",
			damage:      garbage(10, 12),
			wantLast:    9,
			wantDropped: []string{"entry 10", "entry 12"},
		},
		{
			name:        "bad record after a gap",
			damage:      garbage(12),
			wantLast:    10,
			wantDropped: []string{"entry 12"},
		},
		{
			name: "term regression at the end",
			damage: func(txn *badger.Txn) error {
				return txn.Set(entryKey(10), encodeEntry(engine.Entry{Index: 10, Term: 1}))
			},
			wantLast:    9,
			wantDropped: []string{"entry 10"},
		},
		{
			name:        "commit above the last entry",
			damage:      func(txn *badger.Txn) error { return garbage(7, 8, 9, 10)(txn) },
			wantLast:    6,
			wantDropped: []string{"entry 7", "entry 8", "entry 9", "entry 10", "commit 8 is above the last index 6"},
		},
		{
			name: "valid record after a gap",
			damage: func(txn *badger.Txn) error {
				return txn.Set(entryKey(12), encodeEntry(engine.Entry{Index: 12, Term: 2}))
			},
			wantErr: "entry 11",
		},
		{
			name: "valid record after a bad one",
			damage: func(txn *badger.Txn) error {
				if err := garbage(9)(txn); err != nil {
					return err
				}
				return txn.Set(entryKey(11), encodeEntry(engine.Entry{Index: 11, Term: 2}))
			},
			wantErr: "entry 9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, Options{})
			mustWrite(t, s, Batch{Entries: ents(2, 1, 10), HardState: &engine.HardState{Term: 2, Commit: 8}})
			s.Close()
			rawUpdate(t, dir, tt.damage)
			if tt.wantErr != "" {
				checkCorrupt(t, "Open", func() error {
					s, err := Open(dir, Options{})
					if err == nil {
						s.Close()
					}
					return err
				}, tt.wantErr)
				return
			}
			s = openDisk(t, dir, Options{})
			st := mustLoad(t, s)
			if diff := cmp.Diff(ents(2, 1, tt.wantLast), st.Entries, cmpEntries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if len(st.Dropped) != len(tt.wantDropped) {
				t.Fatalf("Dropped = %q, want %d notes", st.Dropped, len(tt.wantDropped))
			}
			for i, w := range tt.wantDropped {
				if !strings.Contains(st.Dropped[i], w) {
					t.Errorf("Dropped[%d] = %q, want it to mention %q", i, st.Dropped[i], w)
				}
			}
			// The tail is gone from disk: the next open drops nothing and
			// the log continues after the kept entries.
			s.Close()
			s = openDisk(t, dir, Options{})
			st = mustLoad(t, s)
			if len(st.Dropped) != 0 || s.LastIndex() != tt.wantLast {
				t.Errorf("second open: Dropped = %q, LastIndex = %d; want none, %d", st.Dropped, s.LastIndex(), tt.wantLast)
			}
			if got, want := countEntryKeys(t, s), int(tt.wantLast); got != want {
				t.Errorf("stored entries = %d, want %d", got, want)
			}
			mustWrite(t, s, Batch{Entries: ents(3, tt.wantLast+1, tt.wantLast+1)})
		})
	}
}

func TestTornTailNotesAreBounded(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	mustWrite(t, s, Batch{Entries: ents(2, 1, 100)})
	s.Close()
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		for i := uint64(51); i <= 100; i++ {
			if err := txn.Set(entryKey(i), []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
	s = openDisk(t, dir, Options{})
	st := mustLoad(t, s)
	if got, want := len(st.Dropped), maxDroppedNotes+1; got != want {
		t.Fatalf("len(Dropped) = %d, want %d", got, want)
	}
	if got, want := st.Dropped[maxDroppedNotes], "and 34 more"; !strings.Contains(got, want) {
		t.Errorf("last note %q does not mention %q", got, want)
	}
	if got, want := s.LastIndex(), uint64(50); got != want {
		t.Errorf("LastIndex = %d, want %d", got, want)
	}
}
