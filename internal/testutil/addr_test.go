package testutil

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// RetryOnAddrInUse tries again only after EADDRINUSE, and at most the
// attempts it is given.
func TestRetryOnAddrInUse(t *testing.T) {
	inUse := fmt.Errorf("listen: %w", syscall.EADDRINUSE)
	other := errors.New("other")
	for _, c := range []struct {
		name      string
		errs      []error // f's results in turn
		wantCalls int
		want      error
	}{
		{"success", []error{nil}, 1, nil},
		{"other error", []error{other}, 1, other},
		{"in use then success", []error{inUse, nil}, 2, nil},
		{"in use every time", []error{inUse, inUse, inUse, nil}, 3, syscall.EADDRINUSE},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := RetryOnAddrInUse(t, 3, func() error {
				calls++
				return c.errs[calls-1]
			})
			if calls != c.wantCalls || !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Errorf("%d calls, %v; want %d calls, %v", calls, err, c.wantCalls, c.want)
			}
		})
	}
	if a := FreeUDPAddr(t); a == "" {
		t.Error("FreeUDPAddr returned nothing")
	}
}
