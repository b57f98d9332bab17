package testutil

import (
	"testing"
	"time"
)

// Receive reads ch until n values that keep accepts (nil keeps all) have
// arrived, and fails t if ch closes or timeout passes first.
func Receive[T any](t testing.TB, ch <-chan T, n int, timeout time.Duration, keep func(T) bool) []T {
	t.Helper()
	var got []T
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d values", len(got), n)
				return got
			}
			if keep == nil || keep(v) {
				got = append(got, v)
			}
		case <-deadline.C:
			t.Fatalf("got %d of %d values before the deadline", len(got), n)
			return got
		}
	}
	return got
}
