package yggr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TxnEach gives each transaction what Txn would have given it alone: its
// own log index, its own outcome, its own error; an invalid transaction
// fails without keeping the others from running.
func TestTxnEach(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	if err := db.Put(ctx, []byte("old"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	txns := []Txn{
		{Then: []Request{{Op: OpPut, Key: []byte("a"), Value: []byte("1")}}},
		{Then: []Request{{Op: OpDelete, Key: []byte("old")}}},
		{Then: []Request{{Op: OpPut, Key: nil, Value: []byte("x")}}}, // empty key: invalid
		{Compares: []Compare{{Key: []byte("zz"), Target: CmpExists}}, // fails: else runs
			Then: []Request{{Op: OpPut, Key: []byte("b"), Value: []byte("then")}},
			Else: []Request{{Op: OpPut, Key: []byte("b"), Value: []byte("else")}}},
		{Then: []Request{{Op: OpPut, Key: []byte("c"), Value: []byte("3")}}},
	}
	res, errs := db.TxnEach(ctx, txns)
	if len(res) != len(txns) || len(errs) != len(txns) {
		t.Fatalf("%d results and %d errors for %d txns", len(res), len(errs), len(txns))
	}
	if !errors.Is(errs[2], ErrInvalid) || res[2].Index != 0 {
		t.Errorf("txn with an empty key: %+v, %v; want ErrInvalid", res[2], errs[2])
	}
	indexes := map[uint64]int{}
	for _, i := range []int{0, 1, 3, 4} {
		if errs[i] != nil || res[i].Index == 0 {
			t.Fatalf("txn %d: %+v, %v", i, res[i], errs[i])
		}
		if j, dup := indexes[res[i].Index]; dup {
			t.Errorf("txns %d and %d share log index %d: each is its own entry", j, i, res[i].Index)
		}
		indexes[res[i].Index] = i
	}
	if !res[0].Succeeded || !res[1].Succeeded || res[3].Succeeded || !res[4].Succeeded {
		t.Errorf("succeeded: %v %v %v %v, want true true false true", res[0].Succeeded, res[1].Succeeded, res[3].Succeeded, res[4].Succeeded)
	}
	if len(res[1].Results) != 1 || !res[1].Results[0].Found {
		t.Errorf("delete of an existing key: %+v, want Found", res[1].Results)
	}
	for key, want := range map[string]string{"a": "1", "b": "else", "c": "3"} {
		it, err := db.GetItem(ctx, []byte(key))
		if err != nil || string(it.Value) != want {
			t.Errorf("%s = %q, %v; want %q", key, it.Value, err, want)
			continue
		}
		if i := map[string]int{"a": 0, "b": 3, "c": 4}[key]; it.ModIndex != res[i].Index {
			t.Errorf("%s written at %d, its txn said %d", key, it.ModIndex, res[i].Index)
		}
	}
	if _, err := db.Get(ctx, []byte("old")); !errors.Is(err, ErrNotFound) {
		t.Errorf("old after its delete: %v", err)
	}

	// No transactions: nothing to do.
	if res, errs := db.TxnEach(ctx, nil); len(res) != 0 || len(errs) != 0 {
		t.Errorf("TxnEach(nil) = %v, %v", res, errs)
	}
	// A context already done: every txn fails with ErrTimeout, none runs.
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, errs = db.TxnEach(done, []Txn{{Then: []Request{{Op: OpPut, Key: []byte("late"), Value: []byte("x")}}}})
	if !errors.Is(errs[0], ErrTimeout) {
		t.Errorf("done context: %v, want ErrTimeout", errs[0])
	}
	if _, err := db.Get(ctx, []byte("late")); !errors.Is(err, ErrNotFound) {
		t.Errorf("late after a done context: %v, want not found", err)
	}
}

// TxnEach sent to a leader while its leadership moves (and to a follower,
// which forwards each txn): every txn tells the truth. Each creates its
// own key only if missing, so after the call a success means the key holds
// the txn's value at the txn's index, a definite failure means the key is
// missing, and only ErrUnknownOutcome (or the deadline) leaves either. The
// leader's proposals that meet the transfer take ProposeEach's retry path,
// which the test requires to have run.
func TestTxnEachTruthfulAcrossLeaderChange(t *testing.T) {
	c := newQUICCluster(t, 3)
	ctx := testCtx(t)
	var ok, failed, unknown, calls int
	retries := func() (n uint64) {
		for _, db := range c.dbs {
			n += db.node.ProposeEachRetries()
		}
		return n
	}
	for round := 0; round < 40 && (round < 8 || retries() == 0); round++ {
		lead := c.leader(ctx)
		var target string
		for _, id := range c.ids {
			if id != lead && target == "" {
				target = id
			}
		}
		caller := lead // odd rounds: through a follower, which forwards
		if round%2 == 1 {
			caller = target
		}
		tr := startTransfer(ctx, t, c, round, lead, target)
		var txns []Txn
		var res []TxnResult
		var errs []error
		// Batches back to back for as long as the transfer runs, and one
		// more after it.
		for transferring, call := true, 0; transferring && call < 100; call++ {
			transferring = tr.running()
			batch := make([]Txn, 16)
			for i := range batch {
				key := fmt.Appendf(nil, "r%d-c%d-k%02d", round, call, i)
				batch[i] = Txn{
					Compares: []Compare{{Key: key, Target: CmpMissing}},
					Then:     []Request{{Op: OpPut, Key: key, Value: key}},
				}
			}
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, e := c.dbs[caller].TxnEach(tctx, batch)
			cancel()
			txns, res, errs = append(txns, batch...), append(res, r...), append(errs, e...)
			calls++
		}
		tr.wait()
		reader := c.dbs[c.leader(ctx)]
		for i, txn := range txns {
			key := txn.Then[0].Key
			it, gerr := reader.GetItem(ctx, key)
			if gerr != nil && !errors.Is(gerr, ErrNotFound) {
				t.Fatalf("round %d: reading %s: %v", round, key, gerr)
			}
			written := gerr == nil
			switch err := errs[i]; {
			case err == nil:
				ok++
				if !res[i].Succeeded || !written || it.ModIndex != res[i].Index || string(it.Value) != string(key) {
					t.Errorf("round %d: %s succeeded=%v at %d; key written=%v at %d", round, key, res[i].Succeeded, res[i].Index, written, it.ModIndex)
				}
			case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader):
				// Txn alone retries these (64 times, each after the next
				// leader change); a transfer of a few milliseconds never
				// exhausts that.
				t.Errorf("round %d: %s: %v: the leader change was not retried", round, key, err)
			case errors.Is(err, ErrDropped), errors.Is(err, ErrBusy):
				failed++
				if written {
					t.Errorf("round %d: %s failed definitely (%v) but was written at %d", round, key, err, it.ModIndex)
				}
			case errors.Is(err, ErrUnknownOutcome), errors.Is(err, ErrTimeout):
				unknown++
			default:
				t.Errorf("round %d: %s: unexpected error %v", round, key, err)
			}
		}
	}
	t.Logf("%d calls: txns %d succeeded, %d failed definitely, %d unknown; %d retried by a leader's ProposeEach",
		calls, ok, failed, unknown, retries())
	if ok == 0 {
		t.Error("no txn succeeded")
	}
	if retries() == 0 {
		t.Error("no proposal of a leader's ProposeEach met the leader change: the retry path never ran")
	}
}

// A transaction's errors name the request at fault and no internal
// package: one "yggr: ..." prefix, as Put's errors have.
func TestTxnErrorsHaveOnePrefix(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithLimits(Limits{MaxValueBytes: 8}))
	_, err := db.Txn(ctx, Txn{Then: []Request{{Op: OpPut, Key: nil, Value: []byte("x")}}})
	if want := "yggr: invalid argument: then request 0: empty key"; !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Errorf("empty key: %v, want %q", err, want)
	}
	_, err = db.Txn(ctx, Txn{Else: []Request{{Op: OpPut, Key: []byte("k"), Value: make([]byte, 9)}}})
	if !errors.Is(err, ErrTooLarge) || strings.Contains(err.Error(), "kv:") || !strings.HasPrefix(err.Error(), "yggr: too large: else request 0: ") {
		t.Errorf("value too large: %v, want ErrTooLarge with one yggr prefix", err)
	}
}
