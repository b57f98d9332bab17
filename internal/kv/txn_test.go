package kv

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTxn(t *testing.T) {
	// Every case starts from a=1 (put at index 1) and b=2 (put at 2, then
	// again at 3) and applies its txn at index 4.
	setup := [][]byte{put("a", "1"), put("b", "x"), put("b", "2")}
	a, b := item("a", "1", 1, 1, 1), item("b", "2", 2, 3, 2)
	getA := Request{Op: OpGet, Key: []byte("a")}
	tests := []struct {
		name          string
		txn           Txn
		wantSucceeded bool
		wantResults   []OpResult
		wantItems     []Item
	}{
		{
			name:          "no compares runs then",
			txn:           Txn{Then: []Request{{Op: OpPut, Key: []byte("c"), Value: []byte("3")}}},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut}},
			wantItems:     []Item{a, b, item("c", "3", 4, 4, 1)},
		},
		{
			name:          "empty txn",
			wantSucceeded: true,
			wantItems:     []Item{a, b},
		},
		{
			name: "exists holds",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpExists}},
				Then:     []Request{{Op: OpDelete, Key: []byte("a")}},
				Else:     []Request{getA},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpDelete, Found: true}},
			wantItems:     []Item{b},
		},
		{
			name: "exists fails on a missing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("z"), Target: CmpExists}},
				Then:     []Request{{Op: OpDelete, Key: []byte("a")}},
				Else:     []Request{getA, {Op: OpGet, Key: []byte("z")}},
			},
			wantResults: []OpResult{{Op: OpGet, Found: true, Item: a}, {Op: OpGet}},
			wantItems:   []Item{a, b},
		},
		{
			name: "missing holds: create if missing",
			txn: Txn{
				Compares: []Compare{{Key: []byte("lock"), Target: CmpMissing}},
				Then:     []Request{{Op: OpPut, Key: []byte("lock"), Value: []byte("me")}},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut}},
			wantItems:     []Item{a, b, item("lock", "me", 4, 4, 1)},
		},
		{
			name: "missing fails on an existing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpMissing}},
				Then:     []Request{{Op: OpPut, Key: []byte("a"), Value: []byte("me")}},
			},
			wantItems: []Item{a, b},
		},
		{
			name: "value CAS holds",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpValue, Value: []byte("1")}},
				Then:     []Request{{Op: OpPut, Key: []byte("a"), Value: []byte("10")}},
				Else:     []Request{getA},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut, Found: true}},
			wantItems:     []Item{item("a", "10", 1, 4, 2), b},
		},
		{
			name: "value CAS fails on another value",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpValue, Value: []byte("2")}},
				Then:     []Request{{Op: OpPut, Key: []byte("a"), Value: []byte("10")}},
				Else:     []Request{getA},
			},
			wantResults: []OpResult{{Op: OpGet, Found: true, Item: a}},
			wantItems:   []Item{a, b},
		},
		{
			name: "value compare with an empty value fails on a missing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("z"), Target: CmpValue}},
				Then:     []Request{{Op: OpPut, Key: []byte("z"), Value: []byte("1")}},
			},
			wantItems: []Item{a, b},
		},
		{
			name: "mod index CAS holds",
			txn: Txn{
				Compares: []Compare{{Key: []byte("b"), Target: CmpModIndex, ModIndex: 3}},
				Then:     []Request{{Op: OpPut, Key: []byte("b"), Value: []byte("3")}},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut, Found: true}},
			wantItems:     []Item{a, item("b", "3", 2, 4, 3)},
		},
		{
			name: "mod index CAS fails on a stale index",
			txn: Txn{
				Compares: []Compare{{Key: []byte("b"), Target: CmpModIndex, ModIndex: 2}},
				Then:     []Request{{Op: OpPut, Key: []byte("b"), Value: []byte("3")}},
			},
			wantItems: []Item{a, b},
		},
		{
			name: "mod index 0 holds on a missing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("z"), Target: CmpModIndex, ModIndex: 0}},
				Then:     []Request{{Op: OpPut, Key: []byte("z"), Value: []byte("1")}},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut}},
			wantItems:     []Item{a, b, item("z", "1", 4, 4, 1)},
		},
		{
			name: "mod index 0 fails on an existing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpModIndex, ModIndex: 0}},
				Then:     []Request{{Op: OpPut, Key: []byte("a"), Value: []byte("1")}},
			},
			wantItems: []Item{a, b},
		},
		{
			name: "create index compare holds on the key created then, after later puts",
			txn: Txn{
				Compares: []Compare{{Key: []byte("b"), Target: CmpCreateIndex, CreateIndex: 2}},
				Then:     []Request{{Op: OpPut, Key: []byte("b"), Value: []byte("3")}},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut, Found: true}},
			wantItems:     []Item{a, item("b", "3", 2, 4, 3)},
		},
		{
			name: "create index compare fails on another create index",
			txn: Txn{
				Compares: []Compare{{Key: []byte("b"), Target: CmpCreateIndex, CreateIndex: 3}},
				Then:     []Request{{Op: OpPut, Key: []byte("b"), Value: []byte("3")}},
			},
			wantItems: []Item{a, b},
		},
		{
			name: "create index 0 holds on a missing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("z"), Target: CmpCreateIndex}},
				Then:     []Request{{Op: OpPut, Key: []byte("z"), Value: []byte("1")}},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut}},
			wantItems:     []Item{a, b, item("z", "1", 4, 4, 1)},
		},
		{
			name: "create index 0 fails on an existing key",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpCreateIndex}},
				Then:     []Request{{Op: OpPut, Key: []byte("a"), Value: []byte("1")}},
			},
			wantItems: []Item{a, b},
		},
		{
			name: "all compares must hold",
			txn: Txn{
				Compares: []Compare{
					{Key: []byte("a"), Target: CmpExists},
					{Key: []byte("b"), Target: CmpValue, Value: []byte("wrong")},
				},
				Then: []Request{{Op: OpDelete, Key: []byte("a")}},
				Else: []Request{{Op: OpDelete, Key: []byte("b")}},
			},
			wantResults: []OpResult{{Op: OpDelete, Found: true}},
			wantItems:   []Item{a},
		},
		{
			name: "compares see the state before the txn",
			txn: Txn{
				Compares: []Compare{
					{Key: []byte("a"), Target: CmpValue, Value: []byte("1")},
					{Key: []byte("c"), Target: CmpMissing},
				},
				Then: []Request{
					{Op: OpPut, Key: []byte("c"), Value: []byte("3")},
					{Op: OpPut, Key: []byte("a"), Value: []byte("2")},
				},
			},
			wantSucceeded: true,
			wantResults:   []OpResult{{Op: OpPut}, {Op: OpPut, Found: true}},
			wantItems:     []Item{item("a", "2", 1, 4, 2), b, item("c", "3", 4, 4, 1)},
		},
		{
			name: "a get sees earlier requests of the txn",
			txn: Txn{Then: []Request{
				{Op: OpPut, Key: []byte("a"), Value: []byte("new")},
				getA,
				{Op: OpDelete, Key: []byte("b")},
				{Op: OpGet, Key: []byte("b")},
				{Op: OpPut, Key: []byte("c"), Value: []byte("c1")},
				{Op: OpPut, Key: []byte("c"), Value: []byte("c2")},
				{Op: OpGet, Key: []byte("c")},
			}},
			wantSucceeded: true,
			wantResults: []OpResult{
				{Op: OpPut, Found: true},
				{Op: OpGet, Found: true, Item: item("a", "new", 1, 4, 2)},
				{Op: OpDelete, Found: true},
				{Op: OpGet},
				{Op: OpPut},
				{Op: OpPut, Found: true},
				{Op: OpGet, Found: true, Item: item("c", "c2", 4, 4, 2)},
			},
			wantItems: []Item{item("a", "new", 1, 4, 2), item("c", "c2", 4, 4, 2)},
		},
		{
			name: "failed compare with no else changes nothing",
			txn: Txn{
				Compares: []Compare{{Key: []byte("a"), Target: CmpMissing}},
				Then:     []Request{{Op: OpDelete, Key: []byte("a")}},
			},
			wantItems: []Item{a, b},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			applyAll(t, s, setup...)
			got := applyAll(t, s, EncodeTxn(tt.txn))[0]
			want := Result{Index: 4, Succeeded: tt.wantSucceeded, Results: tt.wantResults}
			if diff := cmp.Diff(want, got, equalBytes); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantItems, all(s), equalBytes); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTxnLock runs the lock pattern: acquire = create if missing, release =
// delete if the value is still ours.
func TestTxnLock(t *testing.T) {
	s := New()
	lock := []byte("lock")
	acquire := func(owner string) Result {
		return applyAll(t, s, EncodeTxn(Txn{
			Compares: []Compare{{Key: lock, Target: CmpMissing}},
			Then:     []Request{{Op: OpPut, Key: lock, Value: []byte(owner)}},
			Else:     []Request{{Op: OpGet, Key: lock}},
		}))[0]
	}
	release := func(owner string) bool {
		return applyAll(t, s, EncodeTxn(Txn{
			Compares: []Compare{{Key: lock, Target: CmpValue, Value: []byte(owner)}},
			Then:     []Request{{Op: OpDelete, Key: lock}},
		}))[0].Succeeded
	}
	if r := acquire("alice"); !r.Succeeded {
		t.Fatalf("alice: acquire failed on a free lock: %+v", r)
	}
	r := acquire("bob")
	if r.Succeeded {
		t.Fatalf("bob: acquired a held lock")
	}
	if got, want := string(r.Results[0].Item.Value), "alice"; got != want {
		t.Errorf("bob sees holder %q, want %q", got, want)
	}
	if release("bob") {
		t.Errorf("bob released alice's lock")
	}
	if !release("alice") {
		t.Errorf("alice could not release her lock")
	}
	if r := acquire("bob"); !r.Succeeded {
		t.Errorf("bob: acquire failed after release: %+v", r)
	}
	it, _ := s.Get(lock)
	if diff := cmp.Diff(item("lock", "bob", 5, 5, 1), it); diff != "" {
		t.Errorf("lock item (-want +got):\n%s", diff)
	}
}

// TestTxnCounter increments a counter with read-modify-write CAS on the mod
// index; a writer with a stale read must fail and retry.
func TestTxnCounter(t *testing.T) {
	s := New()
	key := []byte("counter")
	incr := func(seen Item) bool {
		n, _ := strconv.Atoi(string(seen.Value))
		return applyAll(t, s, EncodeTxn(Txn{
			Compares: []Compare{{Key: key, Target: CmpModIndex, ModIndex: seen.ModIndex}},
			Then:     []Request{{Op: OpPut, Key: key, Value: []byte(strconv.Itoa(n + 1))}},
		}))[0].Succeeded
	}
	const n = 10
	var stale Item // read before any increment
	for i := range n {
		seen, _ := s.Get(key)
		if !incr(seen) {
			t.Fatalf("increment %d failed on a fresh read", i)
		}
	}
	if incr(stale) {
		t.Errorf("increment with a stale read succeeded")
	}
	it, _ := s.Get(key)
	want := item("counter", strconv.Itoa(n), 1, n, n)
	if diff := cmp.Diff(want, it); diff != "" {
		t.Errorf("counter (-want +got):\n%s", diff)
	}
}
