package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := testutil.RetryOnAddrInUse(t, 3, func() error {
		out.Reset()
		return run(&out)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"deposit 100 to alice via n",
		": ok=true balance=100\n",
		`withdraw 250 from alice: ok=false error="insufficient funds" balance=100`,
		"reads alice=100 (1 records",
		"after restart: alice=100 bob=7 (2 records)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// The ledger's own contract: a snapshot taken before later Applies keeps
// its point in time, and Restore rebuilds records and balances from it.
func TestLedgerSnapshotRestore(t *testing.T) {
	l := NewLedger()
	l.Apply(1, Command("alice", 10))
	l.Apply(3, Command("bob", 5))
	im, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	l.Apply(4, Command("alice", -4)) // after the snapshot: not in it
	var res Result
	if err := json.Unmarshal(l.Apply(5, Command("bob", -6)), &res); err != nil || res.OK || res.Error != "insufficient funds" {
		t.Fatalf("overdraft: %+v, %v; want refused", res, err)
	}
	if err := json.Unmarshal(l.Apply(6, []byte("{")), &res); err != nil || res.Error != "malformed command" {
		t.Fatalf("malformed command: %+v, %v", res, err)
	}
	var buf bytes.Buffer
	if _, err := im.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := NewLedger()
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if r.Balance("alice") != 10 || r.Balance("bob") != 5 || r.Len() != 2 {
		t.Fatalf("restored alice=%d bob=%d len=%d, want 10 5 2", r.Balance("alice"), r.Balance("bob"), r.Len())
	}
	if err := r.Restore(strings.NewReader("not json\n")); err == nil {
		t.Fatal("Restore accepted a bad snapshot")
	}
	if r.Balance("alice") != 10 || r.Len() != 2 {
		t.Fatal("a failed Restore changed the ledger")
	}
}
