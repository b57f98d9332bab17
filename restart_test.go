package yggr

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
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

// TestRestartKeepsBootstrapVoters: a member of a three-node cluster whose
// membership no config entry or snapshot records yet restarts, with no
// peers given, as a member of the same three voters (recorded in
// yggr.json), not as a cluster of its own (it used to lead alone).
func TestRestartKeepsBootstrapVoters(t *testing.T) {
	ctx := testCtx(t)
	ids := []string{"n1", "n2", "n3"}
	var peers []string
	for _, id := range ids {
		peers = append(peers, id+"="+freeUDPAddr(t))
	}
	dirs := map[string]string{}
	dbs := map[string]*DB{}
	for _, id := range ids {
		dirs[id] = t.TempDir()
		db, err := Open(dirs[id], peers, WithID(id), WithInsecure(), WithUnsafeNoSync())
		if err != nil {
			t.Fatal(err)
		}
		dbs[id] = db
	}
	if _, err := dbs["n1"].WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dbs["n1"].Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := dbs[id].Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(dirs["n1"], nil, WithID("n1"), WithInsecure(), WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	for _, m := range db.Status().Members {
		if m.Voter {
			got = append(got, m.ID)
		}
	}
	if slices.Sort(got); !slices.Equal(got, ids) {
		t.Errorf("voters after a restart with no peers = %v, want %v", got, ids)
	}
}

// TestRestartIgnoresOtherPeers: peers given to a reopen that differ from
// those recorded at creation are ignored with a warning (the membership is
// in the log, as etcd ignores --initial-cluster once it has data): the
// node keeps its data and its one-voter cluster and does not wait for a
// node it was never joined to.
func TestRestartIgnoresOtherPeers(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	addr := freeUDPAddr(t)
	db, err := Open(dir, []string{"n1=" + addr}, WithID("n1"), WithInsecure(), WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err = Open(dir, []string{"n1=" + addr, "n2=" + freeUDPAddr(t)}, WithID("n1"), WithInsecure(), WithUnsafeNoSync(), WithLogger(logger))
	if err != nil {
		t.Fatalf("reopen with other peers: %v", err)
	}
	defer db.Close()
	if v, err := db.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Errorf("get k = %q, %v; want v (the node must lead its one-voter cluster)", v, err)
	}
	if ms := db.Status().Members; len(ms) != 1 || ms[0].ID != "n1" {
		t.Errorf("members = %+v; want n1 alone", ms)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "ignoring the peers given") || !strings.Contains(out, "n2") {
		t.Errorf("no warning naming the ignored peers; log:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
