package yggr

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestTxnThroughFollowerDuringLeaderChange: a compare-and-set increment sent
// to a follower (which forwards it) while leadership moves between the
// nodes is applied at most once, and its answer tells the truth: success
// means the counter moved by exactly one, a definite failure (ErrDropped,
// ErrNoLeader, ErrNotLeader, ErrBusy) means it did not move, and only
// ErrUnknownOutcome (or the caller's own deadline) leaves either possible.
// Nothing else writes the counter, so its value after each round says what
// happened.
func TestTxnThroughFollowerDuringLeaderChange(t *testing.T) {
	c := newQUICCluster(t, 3)
	ctx := testCtx(t)
	key := []byte("counter")
	if err := c.dbs[c.leader(ctx)].Put(ctx, key, []byte("0")); err != nil {
		t.Fatal(err)
	}
	var ok, failed, unknown, during int
	for round := range 12 {
		lead := c.leader(ctx)
		var follower, target string
		for _, id := range c.ids {
			if id != lead && follower == "" {
				follower = id
			} else if id != lead {
				target = id
			}
		}
		if round%2 == 1 {
			target = follower // the forwarding node itself takes over
		}
		tr := startTransfer(ctx, t, c, round, lead, target)
		// Increments back to back through the follower for as long as
		// the transfer runs, and one more after it.
		transferring := true
		for i := 0; i < 200 && transferring; i++ {
			if transferring = tr.running(); transferring {
				during++
			}
			before := readCounter(ctx, t, c, follower, key)
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			res, err := c.dbs[follower].Txn(tctx, Txn{
				Compares: []Compare{{Key: key, Target: CmpValue, Value: []byte(strconv.Itoa(before))}},
				Then:     []Request{{Op: OpPut, Key: key, Value: []byte(strconv.Itoa(before + 1))}},
			})
			cancel()
			after := readCounter(ctx, t, c, follower, key)
			switch {
			case err == nil:
				ok++
				if !res.Succeeded || after != before+1 {
					t.Errorf("round %d: Txn succeeded=%v at index %d, counter %d → %d; want exactly one increment", round, res.Succeeded, res.Index, before, after)
				}
			case errors.Is(err, ErrDropped), errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader), errors.Is(err, ErrBusy):
				failed++
				if after != before {
					t.Errorf("round %d: Txn failed definitely (%v) but the counter moved %d → %d", round, err, before, after)
				}
			case errors.Is(err, ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded):
				unknown++
				if after != before && after != before+1 {
					t.Errorf("round %d: outcome unknown (%v), counter %d → %d; want %d or %d", round, err, before, after, before, before+1)
				}
			default:
				t.Errorf("round %d: Txn: unexpected error %v", round, err)
			}
		}
		tr.wait()
	}
	t.Logf("increments: %d succeeded, %d failed definitely, %d unknown; %d sent while a transfer ran", ok, failed, unknown, during)
	if ok == 0 {
		t.Error("no round succeeded: the forwarded Txn never got through a leader change")
	}
}

// transfer is a leadership transfer running in the background of a test
// round (startTransfer).
type transfer struct {
	t            *testing.T
	round        int
	lead, target string
	moved        chan error
	done         bool
}

// startTransfer starts moving leadership from lead to target. A failed
// transfer is logged, not fatal: leadership may move anyway, and the
// callers check what their requests saw, not the transfer.
func startTransfer(ctx context.Context, t *testing.T, c *testCluster, round int, lead, target string) *transfer {
	tr := &transfer{t: t, round: round, lead: lead, target: target, moved: make(chan error, 1)}
	go func() { tr.moved <- c.dbs[lead].TransferLeadership(ctx, target) }()
	return tr
}

// running reports whether the transfer has not returned yet.
func (tr *transfer) running() bool {
	if tr.done {
		return false
	}
	select {
	case err := <-tr.moved:
		tr.end(err)
		return false
	default:
		return true
	}
}

// wait waits for the transfer to return.
func (tr *transfer) wait() {
	if !tr.done {
		tr.end(<-tr.moved)
	}
}

func (tr *transfer) end(err error) {
	tr.done = true
	if err != nil {
		tr.t.Logf("round %d: transfer %s → %s: %v", tr.round, tr.lead, tr.target, err)
	}
}

// readCounter reads key linearizably through node id, asking again while
// the cluster has no leader.
func readCounter(ctx context.Context, t *testing.T, c *testCluster, id string, key []byte) int {
	t.Helper()
	for range 200 {
		v, err := c.dbs[id].Get(ctx, key)
		if errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrDropped) {
			c.leader(ctx)
			continue
		}
		if err != nil {
			t.Fatalf("read %s through %s: %v", key, id, err)
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			t.Fatalf("counter holds %q", v)
		}
		return n
	}
	t.Fatalf("read %s through %s: no answer after 200 tries", key, id)
	return 0
}
