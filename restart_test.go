package yggr

import (
	"testing"
)

// TestRestartFromDataAlone: a node with data restarts from its data
// directory whatever bootstrap options it was first given: created with
// its own address in peers, it reopens with no peers (and listens on the
// recorded address) and with WithJoin (as `serve --join` would reopen
// it), keeping its data and its cluster.
func TestRestartFromDataAlone(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	addr := freeUDPAddr(t)
	db, err := Open(dir, []string{"n1=" + addr}, WithID("n1"), WithInsecure(), WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		peers []string
		opts  []Option
	}{
		{"no peers", nil, nil},
		{"join", []string{"n1=" + addr}, []Option{WithJoin()}},
		{"no peers again", nil, nil},
	} {
		db, err := Open(dir, tt.peers, append([]Option{WithID("n1"), WithInsecure(), WithUnsafeNoSync()}, tt.opts...)...)
		if err != nil {
			t.Fatalf("%s: reopen: %v", tt.name, err)
		}
		if _, err := db.WaitLeader(ctx); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if v, err := db.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
			t.Errorf("%s: get k = %q, %v; want v", tt.name, v, err)
		}
		if ms := db.Status().Members; len(ms) != 1 || ms[0].Addr != addr {
			t.Errorf("%s: members = %+v; want n1 at %s", tt.name, ms, addr)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
