package main

import (
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

func TestRun(t *testing.T) {
	if err := testutil.RetryOnAddrInUse(t, 3, run); err != nil {
		t.Fatal(err)
	}
}
