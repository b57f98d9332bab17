package testutil

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	WaitFor(t, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

// recorder is a testing.TB whose Fatalf records the message and stops the
// goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestWaitForFailsAtTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != r {
				t.Fatalf("recovered %v, want the recorder's Fatalf", p)
			}
		}()
		waitFor(r, 20*time.Millisecond, "a condition that never holds", func() bool { return false })
	}()
	if !strings.Contains(r.msg, "waiting for a condition that never holds") {
		t.Errorf("message %q does not say what it waited for", r.msg)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("gave up after %v, before the 20ms deadline", d)
	}
}

func TestPoll(t *testing.T) {
	calls := 0
	if !Poll(t.Context(), time.Minute, func() bool { calls++; return calls == 3 }) || calls != 3 {
		t.Errorf("Poll of a condition true on the third call: false or %d calls, want true after 3", calls)
	}
	start := time.Now()
	if Poll(t.Context(), 20*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition that never holds: true")
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("gave up after %v, before the 20ms deadline", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start = time.Now()
	if Poll(ctx, time.Minute, func() bool { return false }) || time.Since(start) > 10*time.Second {
		t.Errorf("Poll with an ended ctx: true, or not at once (%v)", time.Since(start))
	}
}
