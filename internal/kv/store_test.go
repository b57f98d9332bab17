package kv

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// equalBytes compares byte slices with bytes.Equal: nil equals empty (the
// store returns nil for an empty value), and large values compare fast.
var equalBytes = cmp.Comparer(bytes.Equal)

// applyAll applies cmds at indexes Applied()+1, ... and returns the decoded
// results.
func applyAll(t testing.TB, s *Store, cmds ...[]byte) []Result {
	t.Helper()
	var results []Result
	for _, c := range cmds {
		index := s.Applied() + 1
		b := s.Apply(index, c)
		if b == nil {
			t.Fatalf("Apply(%d) = nil, want a result", index)
		}
		r, err := DecodeResult(b)
		if err != nil {
			t.Fatalf("DecodeResult(Apply(%d)): %v", index, err)
		}
		results = append(results, r)
	}
	return results
}

// all returns every item of s.
func all(s *Store) []Item {
	items, _ := s.Scan(nil, nil, 0)
	return items
}

func item(key, value string, create, mod, version uint64) Item {
	return Item{Key: []byte(key), Value: []byte(value), CreateIndex: create, ModIndex: mod, Version: version}
}

func put(key, value string) []byte { return EncodePut([]byte(key), []byte(value)) }
func del(key string) []byte        { return EncodeDelete([]byte(key)) }

func TestApply(t *testing.T) {
	tests := []struct {
		name        string
		cmds        [][]byte // applied at indexes 1, 2, ...
		wantResults []Result
		wantItems   []Item
	}{
		{
			name:        "put creates",
			cmds:        [][]byte{put("a", "1")},
			wantResults: []Result{{Index: 1}},
			wantItems:   []Item{item("a", "1", 1, 1, 1)},
		},
		{
			name:        "put replaces, keeping create index",
			cmds:        [][]byte{put("a", "1"), put("b", "x"), put("a", "2")},
			wantResults: []Result{{Index: 1}, {Index: 2}, {Index: 3}},
			wantItems:   []Item{item("a", "2", 1, 3, 2), item("b", "x", 2, 2, 1)},
		},
		{
			name:        "delete removes",
			cmds:        [][]byte{put("a", "1"), del("a")},
			wantResults: []Result{{Index: 1}, {Index: 2, Deleted: true}},
		},
		{
			name:        "delete of a missing key",
			cmds:        [][]byte{put("a", "1"), del("b")},
			wantResults: []Result{{Index: 1}, {Index: 2, Deleted: false}},
			wantItems:   []Item{item("a", "1", 1, 1, 1)},
		},
		{
			name:        "recreate after delete restarts create index and version",
			cmds:        [][]byte{put("a", "1"), put("a", "2"), del("a"), put("a", "3")},
			wantResults: []Result{{Index: 1}, {Index: 2}, {Index: 3, Deleted: true}, {Index: 4}},
			wantItems:   []Item{item("a", "3", 4, 4, 1)},
		},
		{
			name:        "empty value",
			cmds:        [][]byte{put("a", "")},
			wantResults: []Result{{Index: 1}},
			wantItems:   []Item{item("a", "", 1, 1, 1)},
		},
		{
			name:        "keys are ordered bytewise",
			cmds:        [][]byte{put("b", "2"), put("a\xff", "3"), put("a", "1"), put("\x00", "0")},
			wantResults: []Result{{Index: 1}, {Index: 2}, {Index: 3}, {Index: 4}},
			wantItems:   []Item{item("\x00", "0", 4, 4, 1), item("a", "1", 3, 3, 1), item("a\xff", "3", 2, 2, 1), item("b", "2", 1, 1, 1)},
		},
		{
			name:        "binary keys and values",
			cmds:        [][]byte{put("\x00\x01\xfe", "\xff\x00")},
			wantResults: []Result{{Index: 1}},
			wantItems:   []Item{item("\x00\x01\xfe", "\xff\x00", 1, 1, 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			gotResults := applyAll(t, s, tt.cmds...)
			if diff := cmp.Diff(tt.wantResults, gotResults, equalBytes); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantItems, all(s), equalBytes); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if got, want := s.Len(), len(tt.wantItems); got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			if got, want := s.Applied(), uint64(len(tt.cmds)); got != want {
				t.Errorf("Applied() = %d, want %d", got, want)
			}
			for _, want := range tt.wantItems {
				got, ok := s.Get(want.Key)
				if !ok {
					t.Errorf("Get(%q): not found", want.Key)
				}
				if diff := cmp.Diff(want, got, equalBytes); diff != "" {
					t.Errorf("Get(%q) (-want +got):\n%s", want.Key, diff)
				}
			}
		})
	}
}

func TestApplyUndecodable(t *testing.T) {
	tests := []struct {
		name string
		cmd  []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{9, byte(KindPut), 1, 'a', 0}},
		{"unknown kind", []byte{commandVersion, 77}},
		{"empty key", EncodePut(nil, []byte("v"))},
		{"truncated", put("key", "value")[:5]},
		{"trailing byte", append(put("a", "1"), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			applyAll(t, s, put("a", "1"))
			before := all(s)
			res := applyAll(t, s, tt.cmd)[0]
			if res.Err == "" {
				t.Errorf("Result.Err is empty, want an error")
			}
			if got, want := res.Index, uint64(2); got != want {
				t.Errorf("Result.Index = %d, want %d", got, want)
			}
			if got, want := s.Applied(), uint64(2); got != want {
				t.Errorf("Applied() = %d, want %d", got, want)
			}
			if diff := cmp.Diff(before, all(s)); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestApplyIndexes(t *testing.T) {
	s := New()
	if got := s.Apply(0, put("a", "0")); got != nil {
		t.Errorf("Apply(0) = %x, want nil (index 0 is never a log index)", got)
	}
	if got := s.Apply(5, put("a", "5")); got == nil {
		t.Fatalf("Apply(5) = nil, want a result")
	}
	for _, index := range []uint64{3, 5} {
		if got := s.Apply(index, put("a", "old")); got != nil {
			t.Errorf("Apply(%d) after 5 = %x, want nil", index, got)
		}
	}
	s.ApplyNoop(4) // ignored
	if got, want := s.Applied(), uint64(5); got != want {
		t.Errorf("Applied() after ApplyNoop(4) = %d, want %d", got, want)
	}
	s.ApplyNoop(8)
	if got, want := s.Applied(), uint64(8); got != want {
		t.Errorf("Applied() after ApplyNoop(8) = %d, want %d", got, want)
	}
	if got := s.Apply(8, put("a", "8")); got != nil {
		t.Errorf("Apply(8) after ApplyNoop(8) = %x, want nil", got)
	}
	applyAll(t, s, put("a", "9"))
	if diff := cmp.Diff([]Item{item("a", "9", 5, 9, 2)}, all(s)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}

func TestReadsReturnCopies(t *testing.T) {
	s := New()
	applyAll(t, s, put("a", "1"))
	mutate := func(it Item) {
		for i := range it.Key {
			it.Key[i] = 'X'
		}
		for i := range it.Value {
			it.Value[i] = 'X'
		}
	}
	it, _ := s.Get([]byte("a"))
	mutate(it)
	v, _, _ := s.GetValueAt([]byte("a"))
	mutate(Item{Value: v})
	items, _ := s.Scan(nil, nil, 0)
	mutate(items[0])
	for it := range s.Range(nil, nil) {
		mutate(it)
	}
	cmd := put("b", "2")
	applyAll(t, s, cmd)
	for i := range cmd {
		cmd[i] = 0 // the store must not keep cmd
	}
	want := []Item{item("a", "1", 1, 1, 1), item("b", "2", 2, 2, 1)}
	if diff := cmp.Diff(want, all(s)); diff != "" {
		t.Errorf("items after callers wrote to returned slices (-want +got):\n%s", diff)
	}
}

// scanStore holds keys a..e at indexes 1..5.
func scanStore(t *testing.T) *Store {
	s := New()
	for _, k := range []string{"c", "a", "e", "b", "d"} {
		applyAll(t, s, put(k, k+"v"))
	}
	return s
}

var scanTests = []struct {
	name       string
	start, end string
	nilEnd     bool
	limit      int
	wantKeys   []string
	wantMore   bool
}{
	{name: "everything", nilEnd: true, wantKeys: []string{"a", "b", "c", "d", "e"}},
	{name: "empty end is unbounded", wantKeys: []string{"a", "b", "c", "d", "e"}},
	{name: "from b", start: "b", nilEnd: true, wantKeys: []string{"b", "c", "d", "e"}},
	{name: "between keys", start: "bb", end: "d", wantKeys: []string{"c"}},
	{name: "end is exclusive", start: "b", end: "c", wantKeys: []string{"b"}},
	{name: "limit with more", nilEnd: true, limit: 2, wantKeys: []string{"a", "b"}, wantMore: true},
	{name: "limit exactly the rest", start: "d", nilEnd: true, limit: 2, wantKeys: []string{"d", "e"}},
	{name: "limit within range", start: "a", end: "d", limit: 2, wantKeys: []string{"a", "b"}, wantMore: true},
	{name: "limit equal to range", start: "a", end: "c", limit: 2, wantKeys: []string{"a", "b"}},
	{name: "negative limit is none", start: "c", nilEnd: true, limit: -1, wantKeys: []string{"c", "d", "e"}},
	{name: "start after end", start: "d", end: "b"},
	{name: "start equal to end", start: "c", end: "c"},
	{name: "past the last key", start: "f", nilEnd: true},
}

func (tt scanBounds) bounds() ([]byte, []byte) {
	var end []byte
	if !tt.nilEnd {
		end = []byte(tt.end)
	}
	return []byte(tt.start), end
}

type scanBounds struct {
	start, end string
	nilEnd     bool
}

func keysOf(items []Item) []string {
	var keys []string
	for _, it := range items {
		keys = append(keys, string(it.Key))
	}
	return keys
}

func TestScan(t *testing.T) {
	s := scanStore(t)
	for _, tt := range scanTests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := scanBounds{tt.start, tt.end, tt.nilEnd}.bounds()
			items, more := s.Scan(start, end, tt.limit)
			if diff := cmp.Diff(tt.wantKeys, keysOf(items)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if more != tt.wantMore {
				t.Errorf("more = %v, want %v", more, tt.wantMore)
			}
			for _, it := range items {
				if got, want := string(it.Value), string(it.Key)+"v"; got != want {
					t.Errorf("value of %q = %q, want %q", it.Key, got, want)
				}
			}
		})
	}
}

func TestRange(t *testing.T) {
	s := scanStore(t)
	for _, tt := range scanTests {
		if tt.limit != 0 {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			start, end := scanBounds{tt.start, tt.end, tt.nilEnd}.bounds()
			var got []Item
			for it := range s.Range(start, end) {
				got = append(got, it)
			}
			if diff := cmp.Diff(tt.wantKeys, keysOf(got)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRangeIsPointInTime(t *testing.T) {
	s := scanStore(t)
	want := all(s)
	start := []byte("a")
	seq := s.Range(start, nil)
	start[0] = 'z' // Range keeps its own bounds
	applyAll(t, s, put("a", "new"), del("b"), put("aa", "new"))
	for pass := range 2 {
		var got []Item
		for it := range seq {
			got = append(got, it)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pass %d: Range saw later commands (-want +got):\n%s", pass, diff)
		}
	}
	n := 0
	for range seq {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("early break: iterated %d items, want 2", n)
	}
}

// TestConcurrentReaders runs readers against a stream of transactions that
// set x and y to the same value; every reader must see x == y (txns are
// atomic) and never see a value go back. Run with -race.
func TestConcurrentReaders(t *testing.T) {
	s := New()
	const writes = 1000
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	check := func(items []Item) error {
		if len(items) == 0 {
			return nil
		}
		if len(items) != 2 || !bytes.Equal(items[0].Value, items[1].Value) {
			return fmt.Errorf("saw a torn txn: %+v", items)
		}
		return nil
	}
	reader := func(read func() ([]Item, error)) {
		defer wg.Done()
		var last int
		for {
			select {
			case <-done:
				return
			default:
			}
			items, err := read()
			if err == nil {
				err = check(items)
			}
			if err == nil && len(items) > 0 {
				n, _ := strconv.Atoi(string(items[0].Value))
				if n < last {
					err = fmt.Errorf("value went back from %d to %d", last, n)
				}
				last = n
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}
	// Readers: owned by this test, end when done is closed; wg waits.
	wg.Add(4)
	go reader(func() ([]Item, error) { items, _ := s.Scan(nil, nil, 0); return items, nil })
	go reader(func() ([]Item, error) {
		var items []Item
		for it := range s.Range([]byte("x"), nil) {
			items = append(items, it)
		}
		return items, nil
	})
	go reader(func() ([]Item, error) {
		var buf bytes.Buffer
		if _, err := s.Snapshot().WriteTo(&buf); err != nil {
			return nil, err
		}
		r := New()
		if err := r.Restore(&buf); err != nil {
			return nil, err
		}
		return all(r), nil
	})
	go reader(func() ([]Item, error) {
		it, ok := s.Get([]byte("x"))
		if !ok {
			return nil, nil
		}
		_ = s.Len()
		_ = s.Applied()
		return []Item{it, it}, nil
	})
	for i := 1; i <= writes; i++ {
		v := []byte(strconv.Itoa(i))
		s.Apply(uint64(i), EncodeTxn(Txn{Then: []Request{
			{Op: OpPut, Key: []byte("x"), Value: v},
			{Op: OpPut, Key: []byte("y"), Value: v},
		}}))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestGetValueAt checks GetValueAt against GetAt for keys around the
// lengths where lookup's pivot changes (a 2-byte length, a buffer too long
// to pool), a missing key and an empty value, from concurrent readers (the
// pivots share a pool of buffers).
func TestGetValueAt(t *testing.T) {
	s := New()
	var keys [][]byte
	for _, n := range []int{1, 7, 8, 9, 16, 127, 128, 255, 256, 257, 1000} {
		for _, c := range []byte("ab") {
			keys = append(keys, bytes.Repeat([]byte{c}, n))
		}
	}
	for i, k := range keys {
		applyAll(t, s, EncodePut(k, []byte(strconv.Itoa(i))))
	}
	applyAll(t, s, put("empty", ""))
	missing := [][]byte{[]byte("c"), bytes.Repeat([]byte("a"), 300), []byte("aa\x00")}
	check := func() error {
		for i, k := range keys {
			v, ok, rev := s.GetValueAt(k)
			it, _, _ := s.GetAt(k)
			if !ok || string(v) != strconv.Itoa(i) || !bytes.Equal(v, it.Value) || rev != s.Applied() {
				return fmt.Errorf("GetValueAt(%d-byte %q...) = %q, %v, %d; want %q, true, %d", len(k), k[:1], v, ok, rev, strconv.Itoa(i), s.Applied())
			}
		}
		for _, k := range missing {
			if v, ok, _ := s.GetValueAt(k); ok || v != nil {
				return fmt.Errorf("GetValueAt(missing %q) = %q, %v; want nil, false", k, v, ok)
			}
		}
		if v, ok, _ := s.GetValueAt([]byte("empty")); !ok || v != nil {
			return fmt.Errorf("GetValueAt(empty value) = %q, %v; want nil, true", v, ok)
		}
		return nil
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 { // owned by this test; each runs a bounded loop, wg waits
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if err := check(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix, want []byte
	}{
		{nil, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("ab"), []byte("ac")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("a\xff\xff"), []byte("b")},
		{[]byte("\xff\xff"), nil},
		{[]byte{0}, []byte{1}},
	}
	for _, tt := range tests {
		if got := PrefixEnd(tt.prefix); !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
	s := New()
	for _, k := range []string{"a", "a\xff", "a\xff\x00", "ab", "b", "\xff", "\xff\xff"} {
		applyAll(t, s, put(k, ""))
	}
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"a", []string{"a", "ab", "a\xff", "a\xff\x00"}},
		{"a\xff", []string{"a\xff", "a\xff\x00"}},
		{"\xff", []string{"\xff", "\xff\xff"}},
		{"c", nil},
	} {
		items, _ := s.Scan([]byte(tt.prefix), PrefixEnd([]byte(tt.prefix)), 0)
		if diff := cmp.Diff(tt.want, keysOf(items)); diff != "" {
			t.Errorf("prefix %q scan (-want +got):\n%s", tt.prefix, diff)
		}
	}
}
