package testutil

import (
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
