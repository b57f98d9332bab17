package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// routeNode is a Node with just what toLeader reads: a status, the leader
// change channel and a stop channel. Without a network it serves every
// request locally.
func routeNode() *Node {
	n := &Node{stop: make(chan struct{})}
	n.cfg.TickInterval = time.Microsecond
	ch := make(chan struct{})
	n.leaderCh.Store(&ch)
	n.status.Store(&engine.Status{Role: engine.Leader, Leader: "n1"})
	return n
}

// TestToLeaderRetryPolicy checks route.go's policy: which failures are
// tried again, how many times, and what ends the retries.
func TestToLeaderRetryPolicy(t *testing.T) {
	dropped := errors.New("dropped")
	tests := []struct {
		name       string
		errs       []error // the local answers, in order; nil after the last
		idempotent bool
		wantCalls  int
		wantErr    error
	}{
		{"success", nil, false, 1, nil},
		{"not leader then success", []error{ErrNotLeader, ErrNoLeader, ErrTransfer}, false, 4, nil},
		{"dropped is returned", []error{ErrDropped}, false, 1, ErrDropped},
		{"unknown outcome of a write is returned", []error{ErrUnknownOutcome}, false, 1, ErrUnknownOutcome},
		{"unknown outcome of an idempotent call is retried", []error{ErrUnknownOutcome}, true, 2, nil},
		{"other error is returned", []error{dropped}, true, 1, dropped},
		{"gives up after maxAttempts", repeat(ErrNotLeader, maxAttempts+5), false, maxAttempts, ErrNotLeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := routeNode()
			calls := 0
			data, index, err := n.toLeader(context.Background(), leaderRequest{
				local: func() ([]byte, uint64, error) {
					calls++
					if calls <= len(tt.errs) {
						return nil, 0, tt.errs[calls-1]
					}
					return []byte("ok"), 7, nil
				},
				call:       func() []byte { t.Fatal("a node without a network forwarded"); return nil },
				idempotent: tt.idempotent,
			})
			if calls != tt.wantCalls {
				t.Errorf("got %d calls, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil || string(data) != "ok" || index != 7 {
					t.Errorf("got %q, %d, %v; want ok, 7, nil", data, index, err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func repeat(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// A request whose ctx already ended is never sent; one whose ctx ends
// while it waits for a leader fails with ErrTimeout naming the last
// failure; Close ends the wait with ErrClosed.
func TestToLeaderStops(t *testing.T) {
	n := routeNode()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	local := func() ([]byte, uint64, error) { calls++; return nil, 0, ErrNoLeader }
	if _, _, err := n.toLeader(ctx, leaderRequest{local: local}); !errors.Is(err, ErrTimeout) || calls != 0 {
		t.Fatalf("cancelled ctx: %v after %d calls; want ErrTimeout and no call", err, calls)
	}

	n.cfg.TickInterval = time.Hour // only a leader change, ctx or Close end a wait
	ctx, cancel = context.WithCancel(context.Background())
	local = func() ([]byte, uint64, error) { calls++; cancel(); return nil, 0, ErrNoLeader }
	_, _, err := n.toLeader(ctx, leaderRequest{local: local})
	if !errors.Is(err, ErrTimeout) || calls != 1 {
		t.Fatalf("ctx ended while waiting: %v after %d calls; want ErrTimeout after one", err, calls)
	}
	if want := ErrNoLeader.Error(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the last failure %q", err, want)
	}

	calls = 0
	local = func() ([]byte, uint64, error) { calls++; close(n.stop); return nil, 0, ErrNotLeader }
	if _, _, err := n.toLeader(context.Background(), leaderRequest{local: local}); !errors.Is(err, ErrClosed) || calls != 1 {
		t.Fatalf("closed while waiting: %v after %d calls; want ErrClosed after one", err, calls)
	}
}

// A retry waits for the leader change rather than the tick when the
// change comes first.
func TestToLeaderWaitsForLeaderChange(t *testing.T) {
	n := routeNode()
	n.cfg.TickInterval = time.Hour
	calls := 0
	local := func() ([]byte, uint64, error) {
		calls++
		if calls == 1 {
			ch := make(chan struct{})
			close(*n.leaderCh.Swap(&ch)) // as publishStatus does
			return nil, 0, ErrNotLeader
		}
		return nil, 3, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, index, err := n.toLeader(ctx, leaderRequest{local: local}); err != nil || index != 3 || calls != 2 {
		t.Fatalf("got index %d, %v after %d calls; want 3, nil after 2", index, err, calls)
	}
}
