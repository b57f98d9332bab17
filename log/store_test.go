package log

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/yggrdb/yggr/engine"
	"go.uber.org/goleak"

	"github.com/yggrdb/yggr/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" || os.Getenv(rssHelperEnv) != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// testData is the deterministic data of the entry at index in term.
func testData(index, term uint64) []byte {
	n := int(index*7%97) + 1
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(index + term*31 + uint64(i)*13)
	}
	return b
}

// ents returns entries lo..hi (inclusive) of term with testData.
func ents(term, lo, hi uint64) []engine.Entry {
	var out []engine.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, engine.Entry{Term: term, Index: i, Type: engine.EntryNormal, Data: testData(i, term)})
	}
	return out
}

func openMem(t *testing.T) *Store {
	t.Helper()
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openDisk(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustWrite(t *testing.T, s *Store, b Batch) {
	t.Helper()
	if err := s.Write(b); err != nil {
		t.Fatalf("Write(truncate=%d, %d entries): %v", b.TruncateFrom, len(b.Entries), err)
	}
}

func mustLoad(t *testing.T, s *Store) State {
	t.Helper()
	st, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

var cmpEntries = cmpopts.EquateEmpty()

func TestOpenEmpty(t *testing.T) {
	s := openMem(t)
	if got, want := s.FirstIndex(), uint64(1); got != want {
		t.Errorf("FirstIndex = %d, want %d", got, want)
	}
	if got, want := s.LastIndex(), uint64(0); got != want {
		t.Errorf("LastIndex = %d, want %d", got, want)
	}
	if got, err := s.Term(0); err != nil || got != 0 {
		t.Errorf("Term(0) = %d, %v, want 0, nil", got, err)
	}
	if diff := cmp.Diff(State{}, mustLoad(t, s), cmpEntries); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// TestWriteSequences replays batches and checks the resulting log and hard
// state, through Load, Entries, Term and LastIndex.
func TestWriteSequences(t *testing.T) {
	hs := func(term, commit uint64, vote engine.NodeID) *engine.HardState {
		return &engine.HardState{Term: term, Commit: commit, Vote: vote}
	}
	cat := func(parts ...[]engine.Entry) []engine.Entry {
		var out []engine.Entry
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		batches []Batch
		want    State
	}{
		{
			name:    "hard state only",
			batches: []Batch{{HardState: hs(3, 0, "n2")}},
			want:    State{HardState: *hs(3, 0, "n2")},
		},
		{
			name:    "append one batch",
			batches: []Batch{{Entries: ents(1, 1, 5), HardState: hs(1, 2, "n1")}},
			want:    State{HardState: *hs(1, 2, "n1"), Entries: ents(1, 1, 5)},
		},
		{
			name:    "append several batches",
			batches: []Batch{{Entries: ents(1, 1, 3)}, {Entries: ents(1, 4, 4)}, {Entries: ents(2, 5, 9)}},
			want:    State{Entries: cat(ents(1, 1, 4), ents(2, 5, 9))},
		},
		{
			name: "truncate then append",
			batches: []Batch{
				{Entries: ents(1, 1, 10)},
				{TruncateFrom: 6, Entries: ents(2, 6, 7), HardState: hs(2, 5, "")},
			},
			want: State{HardState: *hs(2, 5, ""), Entries: cat(ents(1, 1, 5), ents(2, 6, 7))},
		},
		{
			name: "truncate longer than the old suffix",
			batches: []Batch{
				{Entries: ents(1, 1, 4)},
				{TruncateFrom: 2, Entries: ents(3, 2, 9)},
			},
			want: State{Entries: cat(ents(1, 1, 1), ents(3, 2, 9))},
		},
		{
			name: "truncate everything",
			batches: []Batch{
				{Entries: ents(1, 1, 4)},
				{TruncateFrom: 1},
			},
			want: State{},
		},
		{
			name: "truncate beyond the end deletes nothing",
			batches: []Batch{
				{Entries: ents(1, 1, 4)},
				{TruncateFrom: 5, Entries: ents(1, 5, 5)},
			},
			want: State{Entries: ents(1, 1, 5)},
		},
		{
			name: "empty batch",
			batches: []Batch{
				{Entries: ents(1, 1, 2)},
				{},
			},
			want: State{Entries: ents(1, 1, 2)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			for _, b := range tt.batches {
				mustWrite(t, s, b)
			}
			if diff := cmp.Diff(tt.want, mustLoad(t, s), cmpEntries); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
			wantLast := uint64(0)
			if n := len(tt.want.Entries); n > 0 {
				wantLast = tt.want.Entries[n-1].Index
			}
			if got := s.LastIndex(); got != wantLast {
				t.Errorf("LastIndex = %d, want %d", got, wantLast)
			}
			for _, e := range tt.want.Entries {
				if got, err := s.Term(e.Index); err != nil || got != e.Term {
					t.Errorf("Term(%d) = %d, %v, want %d, nil", e.Index, got, err, e.Term)
				}
			}
			got, err := s.Entries(1, wantLast+1, 1<<30)
			if err != nil {
				t.Fatalf("Entries: %v", err)
			}
			if diff := cmp.Diff(tt.want.Entries, got, cmpEntries); diff != "" {
				t.Errorf("Entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name    string
		batch   Batch
		wantErr error // nil: any error
	}{
		{name: "gap", batch: Batch{Entries: ents(2, 12, 12)}},
		{name: "overlap without truncate", batch: Batch{Entries: ents(2, 10, 10)}},
		{name: "term below predecessor", batch: Batch{Entries: ents(1, 11, 11)}},
		{name: "terms decreasing inside batch", batch: Batch{Entries: append(ents(3, 11, 11), ents(2, 12, 12)...)}},
		{name: "truncate below the snapshot", batch: Batch{TruncateFrom: 3, Entries: ents(2, 3, 3)}, wantErr: ErrCompacted},
		{name: "truncate then gap", batch: Batch{TruncateFrom: 8, Entries: ents(3, 9, 9)}},
		{name: "unknown type", batch: Batch{Entries: []engine.Entry{{Term: 2, Index: 11, Type: 9}}}},
		{name: "too large", batch: Batch{Entries: []engine.Entry{{Term: 2, Index: 11, Data: make([]byte, MaxEntryBytes+1)}}}},
		{name: "vote too long", batch: Batch{HardState: &engine.HardState{Vote: engine.NodeID(make([]byte, engine.MaxNodeIDLen+1))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			mustWrite(t, s, Batch{Entries: ents(2, 1, 10)})
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: 4, Term: 2}); err != nil {
				t.Fatal(err)
			}
			before := mustLoad(t, s)
			err := s.Write(tt.batch)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Write = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(before, mustLoad(t, s), cmpEntries); diff != "" {
				t.Errorf("state changed by a rejected write (-before +after):\n%s", diff)
			}
			// The store stays usable after a rejected (not failed) write.
			mustWrite(t, s, Batch{Entries: ents(2, 11, 11)})
		})
	}
}

func TestEntriesLimits(t *testing.T) {
	s := openMem(t)
	e := make([]engine.Entry, 0, 10)
	for i := uint64(1); i <= 10; i++ {
		e = append(e, engine.Entry{Term: 1, Index: i, Data: make([]byte, 76)}) // weight 100
	}
	mustWrite(t, s, Batch{Entries: e})
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 2, Term: 1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lo, hi, max uint64
		wantN       int
		wantErr     error
	}{
		{lo: 3, hi: 11, max: 1 << 20, wantN: 8},
		{lo: 3, hi: 11, max: 0, wantN: 1},
		{lo: 3, hi: 11, max: 99, wantN: 1},
		{lo: 3, hi: 11, max: 100, wantN: 1},
		{lo: 3, hi: 11, max: 299, wantN: 2},
		{lo: 3, hi: 11, max: 300, wantN: 3},
		{lo: 5, hi: 5, max: 0, wantN: 0},
		{lo: 10, hi: 11, max: 0, wantN: 1},
		{lo: 2, hi: 5, max: 1 << 20, wantErr: ErrCompacted},
		{lo: 1, hi: 5, max: 1 << 20, wantErr: ErrCompacted},
		{lo: 5, hi: 12, max: 1 << 20, wantErr: ErrUnavailable},
		{lo: 6, hi: 5, max: 1 << 20, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("[%d,%d)max=%d", tt.lo, tt.hi, tt.max), func(t *testing.T) {
			got, err := s.Entries(tt.lo, tt.hi, tt.max)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("Entries = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Entries: %v", err)
			}
			if diff := cmp.Diff(e[tt.lo-1:tt.lo-1+uint64(tt.wantN)], got, cmpEntries); diff != "" {
				t.Errorf("Entries (-want +got):\n%s", diff)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestTerm(t *testing.T) {
	s := openMem(t)
	mustWrite(t, s, Batch{Entries: append(ents(2, 1, 5), ents(4, 6, 9)...)})
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 3, Term: 2}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		index   uint64
		want    uint64
		wantErr error
	}{
		{index: 0, wantErr: ErrCompacted},
		{index: 2, wantErr: ErrCompacted},
		{index: 3, want: 2},
		{index: 5, want: 2},
		{index: 6, want: 4},
		{index: 9, want: 4},
		{index: 10, wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := s.Term(tt.index)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("Term(%d) = %d, %v, want %d, %v", tt.index, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCloseThenUse(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := map[string]func() error{
		"Close":       s.Close,
		"Write":       func() error { return s.Write(Batch{Entries: ents(1, 1, 1)}) },
		"Load":        func() error { _, err := s.Load(); return err },
		"Entries":     func() error { _, err := s.Entries(1, 1, 0); return err },
		"Term":        func() error { _, err := s.Term(0); return err },
		"SetSnapshot": func() error { return s.SetSnapshot(engine.SnapshotMeta{}) },
		"Compact":     func() error { return s.Compact(0) },
		"ResetTo":     func() error { return s.ResetTo(engine.SnapshotMeta{}, false) },
	}
	for name, f := range calls {
		if err := f(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ClusterID: "c1", NodeID: "n1"}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 1, 20), HardState: &engine.HardState{Term: 1, Vote: "n1", Commit: 3}})
	mustWrite(t, s, Batch{TruncateFrom: 15, Entries: ents(2, 15, 30), HardState: &engine.HardState{Term: 2, Commit: 12}})
	meta := engine.SnapshotMeta{Index: 10, Term: 1, Size: 99, Membership: engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})}
	if err := s.SetSnapshot(meta); err != nil {
		t.Fatal(err)
	}
	want := mustLoad(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, opts)
	got := mustLoad(t, s)
	if diff := cmp.Diff(want, got, cmpEntries); diff != "" {
		t.Errorf("Load after reopen (-before +after):\n%s", diff)
	}
	if got, want := s.FirstIndex(), uint64(11); got != want {
		t.Errorf("FirstIndex = %d, want %d", got, want)
	}
	if got, want := s.LastIndex(), uint64(30); got != want {
		t.Errorf("LastIndex = %d, want %d", got, want)
	}
	if got, err := s.Term(30); err != nil || got != 2 {
		t.Errorf("Term(30) = %d, %v, want 2, nil", got, err)
	}
	mustWrite(t, s, Batch{Entries: ents(2, 31, 31)})
}

// TestIdentity: a store created now records no identity (its owner keeps
// the one record), so it opens under any name its owner gives; a store
// with an earlier release's identity record refuses any other name, with
// an error naming both; and a first open finds an existing store either
// with such a record or refused.
func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{ClusterID: "c1", NodeID: "n1", FirstOpen: true})
	if n := countKeys(t, s, kindIdentity); n != 0 {
		t.Errorf("a new store holds %d identity records, want none", n)
	}
	s.Close()
	for _, opts := range []Options{{ClusterID: "c1", NodeID: "n1"}, {ClusterID: "c2", NodeID: "n2"}} {
		if err := openErr(dir, opts)(); err != nil {
			t.Errorf("Open(cluster=%q, node=%q) of a store without a record = %v, want nil", opts.ClusterID, opts.NodeID, err)
		}
	}
	err := openErr(dir, Options{ClusterID: "c1", NodeID: "n1", FirstOpen: true})()
	if !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), filepath.Join(dir, "raft")) {
		t.Errorf("first Open of an existing store without a record = %v, want ErrNoIdentity naming the directory", err)
	}

	// An earlier release recorded cluster c1, node n1.
	writeLegacyIdentity(t, dir, identity{ClusterID: "c1", NodeID: "n1"})
	tests := []struct {
		cluster, node string
		wantErr       error
	}{
		{"c1", "n1", nil},
		{"c1", "n2", ErrIdentityMismatch},
		{"c2", "n1", ErrIdentityMismatch},
		{"", "", ErrIdentityMismatch},
	}
	for _, tt := range tests {
		for _, first := range []bool{false, true} {
			err := openErr(dir, Options{ClusterID: tt.cluster, NodeID: tt.node, FirstOpen: first})()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Open(cluster=%q, node=%q, first=%v) = %v, want %v", tt.cluster, tt.node, first, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("holds cluster %q node %q, opened as cluster %q node %q", "c1", "n1", tt.cluster, tt.node)) {
				t.Errorf("mismatch error %q does not name both identities", err)
			}
		}
	}
	if _, err := Open(dir, Options{NodeID: string(make([]byte, MaxIdentityLen+1))}); err == nil {
		t.Errorf("Open with an over-long node id succeeded")
	}
}

// writeLegacyIdentity stands in for an earlier release: it makes the
// closed store in dir one of format 2 with the identity record id.
func writeLegacyIdentity(t *testing.T, dir string, id identity) {
	t.Helper()
	setFormat(t, dir, formatV2, &id)
}

func TestSnapshotAndCompact(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, perEntry)
	mustWrite(t, s, Batch{Entries: append(ents(1, 1, 50), ents(2, 51, 100)...)})
	meta := engine.SnapshotMeta{Index: 60, Term: 2, Membership: engine.NewMembership([]engine.NodeID{"n1"}, nil)}

	for _, bad := range []engine.SnapshotMeta{
		{Index: 60, Term: 1},  // wrong term
		{Index: 101, Term: 2}, // beyond the log
		{Index: 60, Term: 2, Membership: engine.Membership{Voters: []engine.NodeID{"n2", "n1"}}}, // unsorted
	} {
		if err := s.SetSnapshot(bad); err == nil {
			t.Errorf("SetSnapshot(%v %v) succeeded", bad, bad.Membership)
		}
	}
	if err := s.Compact(1); err == nil {
		t.Errorf("Compact above the (absent) snapshot succeeded")
	}
	if err := s.SetSnapshot(meta); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 59, Term: 2}); err == nil {
		t.Errorf("SetSnapshot below the recorded snapshot succeeded")
	}
	if got, want := s.FirstIndex(), uint64(61); got != want {
		t.Errorf("FirstIndex = %d, want %d", got, want)
	}
	if _, err := s.Entries(60, 62, 1<<20); !errors.Is(err, ErrCompacted) {
		t.Errorf("Entries(60, 62) = %v, want ErrCompacted", err)
	}
	// Entries below the floor are still on disk until Compact.
	if got, want := countEntryKeys(t, s), 100; got != want {
		t.Errorf("stored entries = %d, want %d", got, want)
	}
	if err := s.Compact(61); err == nil {
		t.Errorf("Compact above the snapshot index succeeded")
	}
	if err := s.Compact(40); err != nil {
		t.Fatal(err)
	}
	if got, want := countEntryKeys(t, s), 60; got != want {
		t.Errorf("stored entries after Compact(40) = %d, want %d", got, want)
	}
	if err := s.Compact(60); err != nil {
		t.Fatal(err)
	}
	if got, want := countEntryKeys(t, s), 40; got != want {
		t.Errorf("stored entries after Compact(60) = %d, want %d", got, want)
	}
	want := State{Snapshot: meta, Entries: ents(2, 61, 100)}
	if diff := cmp.Diff(want, mustLoad(t, s), cmpEntries); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	// Truncating into the snapshot is refused; truncating just above it works.
	if err := s.Write(Batch{TruncateFrom: 60}); !errors.Is(err, ErrCompacted) {
		t.Errorf("Write(TruncateFrom: 60) = %v, want ErrCompacted", err)
	}
	mustWrite(t, s, Batch{TruncateFrom: 61, Entries: ents(3, 61, 61)})
	s.Close()
	s = openDisk(t, dir, perEntry)
	want = State{Snapshot: meta, Entries: ents(3, 61, 61)}
	if diff := cmp.Diff(want, mustLoad(t, s), cmpEntries); diff != "" {
		t.Errorf("Load after reopen (-want +got):\n%s", diff)
	}
}

// countEntryKeys checkpoints s, then counts the entries stored in Badger's
// runs. With Options.maxRunBytes 1 every run holds one entry.
func countEntryKeys(t *testing.T, s *Store) int {
	t.Helper()
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := s.eachRun(func(r runID) error {
		n += int(r.last - r.first + 1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// perEntry stores one entry per run, so that tests can count them.
var perEntry = Options{maxRunBytes: 1}

func TestResetTo(t *testing.T) {
	mem := engine.NewMembership([]engine.NodeID{"n1", "n2"}, nil)
	tests := []struct {
		name      string
		meta      engine.SnapshotMeta
		keepLog   bool
		want      State
		wantFirst uint64
		wantLast  uint64
		wantKeys  int
	}{
		{
			name:      "inside the log, drop the rest",
			meta:      engine.SnapshotMeta{Index: 15, Term: 1, Membership: mem},
			want:      State{Snapshot: engine.SnapshotMeta{Index: 15, Term: 1, Membership: mem}},
			wantFirst: 16, wantLast: 15,
		},
		{
			name:      "inside the log, keep the rest",
			meta:      engine.SnapshotMeta{Index: 15, Term: 1, Membership: mem},
			keepLog:   true,
			want:      State{Snapshot: engine.SnapshotMeta{Index: 15, Term: 1, Membership: mem}, Entries: ents(1, 16, 20)},
			wantFirst: 16, wantLast: 20, wantKeys: 5,
		},
		{
			name:      "beyond the log",
			meta:      engine.SnapshotMeta{Index: 40, Term: 3, Membership: mem},
			keepLog:   true,
			want:      State{Snapshot: engine.SnapshotMeta{Index: 40, Term: 3, Membership: mem}},
			wantFirst: 41, wantLast: 40,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDisk(t, dir, perEntry)
			mustWrite(t, s, Batch{Entries: ents(1, 1, 20)})
			if err := s.Checkpoint(); err != nil { // some of the entries in Badger
				t.Fatal(err)
			}
			if err := s.SetSnapshot(engine.SnapshotMeta{Index: 5, Term: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.ResetTo(tt.meta, tt.keepLog); err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				if diff := cmp.Diff(tt.want, mustLoad(t, s), cmpEntries); diff != "" {
					t.Errorf("round %d: Load (-want +got):\n%s", round, diff)
				}
				if got := s.FirstIndex(); got != tt.wantFirst {
					t.Errorf("round %d: FirstIndex = %d, want %d", round, got, tt.wantFirst)
				}
				if got := s.LastIndex(); got != tt.wantLast {
					t.Errorf("round %d: LastIndex = %d, want %d", round, got, tt.wantLast)
				}
				if got := countEntryKeys(t, s); got != tt.wantKeys {
					t.Errorf("round %d: stored entries = %d, want %d", round, got, tt.wantKeys)
				}
				s.Close()
				s = openDisk(t, dir, perEntry)
			}
			next := tt.wantLast + 1
			mustWrite(t, s, Batch{Entries: ents(3, next, next)})
			if err := s.ResetTo(engine.SnapshotMeta{Index: 4, Term: 1}, false); err == nil {
				t.Errorf("ResetTo below the recorded snapshot succeeded")
			}
		})
	}
}

// TestLargeBatches checkpoints and truncates more than one Badger
// transaction holds, which takes the chunked commit path.
func TestLargeBatches(t *testing.T) {
	// A 1 MiB memtable holds about 1600 keys per transaction; one entry per
	// run makes one key per entry.
	s, err := Open("", Options{InMemory: true, memTableSize: 1 << 20, maxRunBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 5000
	mustWrite(t, s, Batch{Entries: ents(1, 1, n), HardState: &engine.HardState{Term: 1, Commit: 7}})
	if got := s.LastIndex(); got != n {
		t.Fatalf("LastIndex = %d, want %d", got, n)
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, Batch{TruncateFrom: 10, Entries: ents(2, 10, 12)})
	if got, want := countEntryKeys(t, s), 12; got != want {
		t.Errorf("stored entries = %d, want %d", got, want)
	}
	if got, want := s.chunkedCommits.Load(), int64(2); got != want {
		t.Errorf("chunked commits = %d, want %d", got, want)
	}
	want := State{HardState: engine.HardState{Term: 1, Commit: 7}, Entries: append(ents(1, 1, 9), ents(2, 10, 12)...)}
	if diff := cmp.Diff(want, mustLoad(t, s), cmpEntries); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	mustWrite(t, s, Batch{Entries: ents(2, 13, n)})
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: n - 1, Term: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(n - 1); err != nil {
		t.Fatal(err)
	}
	if got, want := countEntryKeys(t, s), 1; got != want {
		t.Errorf("stored entries after Compact = %d, want %d", got, want)
	}
}

// TestFailedWriteIsSticky closes the write-ahead log's file under the
// store so that a write fails; the store must then refuse all use rather
// than guess its state.
func TestFailedWriteIsSticky(t *testing.T) {
	s := openDisk(t, t.TempDir(), Options{})
	mustWrite(t, s, Batch{Entries: ents(1, 1, 3)})
	if err := s.wal.f.Close(); err != nil {
		t.Fatal(err)
	}
	werr := s.Write(Batch{Entries: ents(1, 4, 4)})
	if werr == nil {
		t.Fatal("Write on a closed write-ahead log succeeded")
	}
	if got := s.LastIndex(); got != 3 {
		t.Errorf("LastIndex after a failed write = %d, want 3", got)
	}
	checkSticky(t, s, werr)
}

// TestFailedCheckpointIsSticky closes Badger under the store so that a
// checkpoint fails: the store refuses all use from then on.
func TestFailedCheckpointIsSticky(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 1, 3)})
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.kickCheckpoint()
	testutil.WaitFor(t, "the failed checkpoint to stick", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.failed != nil
	})
	s.mu.RLock()
	ferr := s.failed
	s.mu.RUnlock()
	checkSticky(t, s, ferr)
	s.Close() // Badger is already closed; only the goroutines are released.
}

func checkSticky(t *testing.T, s *Store, werr error) {
	t.Helper()
	for name, f := range map[string]func() error{
		"Write":       func() error { return s.Write(Batch{Entries: ents(1, 4, 4)}) },
		"SetSnapshot": func() error { return s.SetSnapshot(engine.SnapshotMeta{Index: 1, Term: 1}) },
		"ResetTo":     func() error { return s.ResetTo(engine.SnapshotMeta{Index: 9, Term: 1}, false) },
		"Load":        func() error { _, err := s.Load(); return err },
		"Entries":     func() error { _, err := s.Entries(1, 2, 0); return err },
		"Term":        func() error { _, err := s.Term(2); return err },
		"Checkpoint":  s.Checkpoint,
	} {
		if err := f(); err == nil || err.Error() != werr.Error() {
			t.Errorf("%s after a failure = %v, want %v", name, err, werr)
		}
	}
}

// TestWriteSeveralBatches: one Write of several batches (the runtime's
// group commit) gives the log that writing them one by one gives, a later
// batch truncating what an earlier one appended included.
func TestWriteSeveralBatches(t *testing.T) {
	hs1, hs2 := engine.HardState{Term: 1, Commit: 1}, engine.HardState{Term: 2, Commit: 2}
	cases := []struct {
		name string
		bs   []Batch
	}{
		{"append", []Batch{{Entries: ents(1, 5, 5), HardState: &hs1}, {Entries: ents(1, 6, 6)}}},
		{"the second truncates the first's tail", []Batch{{Entries: ents(1, 5, 7)}, {TruncateFrom: 6, Entries: ents(2, 6, 6), HardState: &hs2}}},
		{"the second truncates below the first", []Batch{{TruncateFrom: 3, Entries: ents(2, 3, 6)}, {TruncateFrom: 2, Entries: ents(3, 2, 2)}}},
		{"three, the last only a hard state", []Batch{{Entries: ents(1, 5, 6)}, {TruncateFrom: 6, Entries: ents(2, 6, 8)}, {HardState: &hs2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			one, all := openMem(t), openMem(t)
			for _, s := range []*Store{one, all} {
				mustWrite(t, s, Batch{Entries: ents(1, 1, 4)})
			}
			for _, b := range c.bs {
				mustWrite(t, one, b)
			}
			if err := all.Write(c.bs...); err != nil {
				t.Fatalf("Write of %d batches: %v", len(c.bs), err)
			}
			if diff := cmp.Diff(mustLoad(t, one), mustLoad(t, all), cmpEntries); diff != "" {
				t.Errorf("one Write of all batches differs from one Write each (-each +all):\n%s", diff)
			}
		})
	}
	// A batch that does not follow the ones before it in the same Write is
	// refused, and nothing is written.
	s := openMem(t)
	mustWrite(t, s, Batch{Entries: ents(1, 1, 4)})
	if err := s.Write(Batch{Entries: ents(1, 5, 5)}, Batch{Entries: ents(1, 7, 7)}); err == nil {
		t.Fatal("Write accepted a batch with a gap after the one before it")
	}
	if got := s.LastIndex(); got != 4 {
		t.Errorf("LastIndex after a refused Write = %d, want 4", got)
	}
}

// A snapshot older than the recorded one (a local snapshot overtaken by
// one installed from the leader) is refused with ErrStaleSnapshot, writes
// nothing, and leaves the store usable.
func TestStaleSnapshot(t *testing.T) {
	s := openMem(t)
	mustWrite(t, s, Batch{Entries: ents(1, 1, 10)})
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 8, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 5, Term: 1}); !errors.Is(err, ErrStaleSnapshot) {
		t.Fatalf("SetSnapshot of an older snapshot: %v, want ErrStaleSnapshot", err)
	}
	if err := s.ResetTo(engine.SnapshotMeta{Index: 6, Term: 1}, false); !errors.Is(err, ErrStaleSnapshot) {
		t.Fatalf("ResetTo an older snapshot: %v, want ErrStaleSnapshot", err)
	}
	if st := mustLoad(t, s); st.Snapshot.Index != 8 {
		t.Fatalf("recorded snapshot %d after the refusals, want 8", st.Snapshot.Index)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 11, 11)})
}

// A snapshot beyond the last durable entry (the state machine applied an
// entry whose write had not finished) is refused with ErrSnapshotAhead,
// writes nothing, and leaves the store usable; once the write is in, the
// same snapshot is accepted.
func TestSnapshotAhead(t *testing.T) {
	s := openMem(t)
	mustWrite(t, s, Batch{Entries: ents(1, 1, 10)})
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 11, Term: 1}); !errors.Is(err, ErrSnapshotAhead) {
		t.Fatalf("SetSnapshot beyond the last index: %v, want ErrSnapshotAhead", err)
	}
	if st := mustLoad(t, s); st.Snapshot.Index != 0 {
		t.Fatalf("recorded snapshot %d after the refusal, want none", st.Snapshot.Index)
	}
	mustWrite(t, s, Batch{Entries: ents(1, 11, 11)})
	if err := s.SetSnapshot(engine.SnapshotMeta{Index: 11, Term: 1}); err != nil {
		t.Fatalf("SetSnapshot once the entry is durable: %v", err)
	}
}

// TestEntriesAcrossRuns reads every range of a checkpointed log whose runs
// overlap (duplicates of other generations holding the same entries, as
// findRun allows below memFirst), from every start and with byte limits,
// and checks the entries and that their Data can be appended to without
// touching the next entry's.
func TestEntriesAcrossRuns(t *testing.T) {
	s := openDisk(t, t.TempDir(), Options{NoSync: true, GCInterval: -1, maxRunBytes: 200})
	const n = 60
	mustWrite(t, s, Batch{Entries: ents(1, 1, n)})
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// Duplicates: a longer run from the middle of one, a shorter one at a
	// run's start, a single entry; same entries, other generations.
	var ms []mutation
	for _, d := range [][2]uint64{{7, 31}, {1, 2}, {40, 40}, {33, 59}} {
		es := ents(1, d[0], d[1])
		id := runOf(es, 1000+d[0])
		ms = append(ms, set(id.key(), encodeRun(id, es)))
	}
	if err := s.commit(ms); err != nil {
		t.Fatal(err)
	}
	want := ents(1, 1, n)
	for lo := uint64(1); lo <= n; lo++ {
		for _, maxBytes := range []uint64{1, 300, math.MaxUint64} {
			got, err := s.Entries(lo, n+1, maxBytes)
			if err != nil {
				t.Fatalf("Entries(%d, %d, %d): %v", lo, n+1, maxBytes, err)
			}
			if len(got) == 0 || (maxBytes == math.MaxUint64 && uint64(len(got)) != n+1-lo) {
				t.Fatalf("Entries(%d, %d, %d): %d entries", lo, n+1, maxBytes, len(got))
			}
			for i, e := range got {
				w := want[lo-1+uint64(i)]
				if e.Index != w.Index || e.Term != w.Term || !bytes.Equal(e.Data, w.Data) {
					t.Fatalf("Entries(%d, %d, %d)[%d] = %v, want %v", lo, n+1, maxBytes, i, e, w)
				}
			}
			for i := range got { // more than the header between two entries
				got[i].Data = append(got[i].Data, make([]byte, 64)...)
			}
			for i, e := range got {
				if w := want[lo-1+uint64(i)]; !bytes.Equal(e.Data[:len(e.Data)-64], w.Data) {
					t.Fatalf("entry %d changed by an append to another's Data", e.Index)
				}
			}
		}
	}
	for i := uint64(1); i <= n; i++ {
		if term, err := s.Term(i); err != nil || term != 1 {
			t.Fatalf("Term(%d) = %d, %v", i, term, err)
		}
	}
}
