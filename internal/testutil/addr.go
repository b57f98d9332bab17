package testutil

import (
	"errors"
	"syscall"
	"testing"

	"github.com/yggrdb/yggr/internal/freeport"
)

// FreeUDPAddr returns a loopback UDP address for a node's peer listener,
// free now and outside the kernel's ephemeral range (see internal/freeport),
// so that no dialer of another test takes it before the node listens.
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.UDP(1)
	if err != nil {
		t.Fatal(err)
	}
	return a[0]
}

// RetryOnAddrInUse calls f up to attempts times, again only while it fails
// because a port it chose was taken before it listened (EADDRINUSE), and
// returns its last error. It is for programs that choose their ports the
// way their readers would, with port 0 (the examples): on a machine
// running many tests, another socket may take such a port first.
func RetryOnAddrInUse(t testing.TB, attempts int, f func() error) error {
	t.Helper()
	var err error
	for i := range attempts {
		if err = f(); !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		t.Logf("attempt %d of %d: %v; again", i+1, attempts, err)
	}
	return err
}
