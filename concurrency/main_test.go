package concurrency

import (
	"testing"

	"go.uber.org/goleak"
)

// Every session's keepalive goroutine, and every waiter's watches, end
// with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
