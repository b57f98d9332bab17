package testutil

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReceive(t *testing.T) {
	ch := make(chan int, 4)
	ch <- 1
	ch <- 2
	ch <- 3
	if got := Receive(t, ch, 2, time.Second, func(v int) bool { return v != 2 }); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Receive = %v, want [1 3]", got)
	}
	// fails runs Receive on a recorder and returns its Fatalf message.
	fails := func(timeout time.Duration) string {
		r := &recorder{TB: t}
		func() {
			defer func() {
				if p := recover(); p != r {
					t.Fatalf("recovered %v, want the recorder's Fatalf", p)
				}
			}()
			Receive(r, ch, 1, timeout, nil)
		}()
		return r.msg
	}
	if msg := fails(time.Millisecond); !strings.Contains(msg, "before the deadline") {
		t.Errorf("nothing to receive: %q", msg)
	}
	close(ch)
	if msg := fails(time.Second); !strings.Contains(msg, "closed") {
		t.Errorf("closed channel: %q", msg)
	}
}
