package raft_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/testutil"
	"github.com/yggrdb/yggr/raft"
)

// counter is a state machine that adds the commands' varints to a total.
// It checks the contract as it goes: Apply sees increasing indexes.
type counter struct {
	mu      sync.Mutex
	total   int64
	last    uint64 // index of the last Apply
	applies int
	bad     error // a contract violation seen by Apply
}

func (c *counter) Apply(index uint64, cmd []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if index <= c.last && c.bad == nil {
		c.bad = fmt.Errorf("Apply(%d) after Apply(%d)", index, c.last)
	}
	c.last = index
	c.applies++
	d, k := binary.Varint(cmd)
	if k <= 0 {
		return []byte("bad command")
	}
	c.total += d
	return binary.AppendVarint(nil, c.total)
}

type image int64

func (i image) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(binary.AppendVarint(nil, int64(i)))
	return int64(n), err
}

func (c *counter) Snapshot() (io.WriterTo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return image(c.total), nil
}

func (c *counter) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	total, k := binary.Varint(b)
	if k <= 0 || k != len(b) {
		return fmt.Errorf("counter: bad snapshot of %d bytes", len(b))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total = total
	return nil
}

func (c *counter) get() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.bad
}

func add(d int64) []byte { return binary.AppendVarint(nil, d) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A single node applies, snapshots and restarts from its snapshot plus the
// log after it.
func TestSingleNodeRestart(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	sm := &counter{}
	n, err := raft.Open(dir, nil, sm)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		res, index, err := n.Propose(ctx, add(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := binary.Varint(res); got != int64(i*(i+1)/2) || index == 0 {
			t.Fatalf("Propose(%d) = %d at %d, want %d", i, got, index, i*(i+1)/2)
		}
	}
	if res, _, err := n.Propose(ctx, []byte{}); err != nil || string(res) != "bad command" {
		t.Fatalf("a rejected command: %q, %v; want its result and no error", res, err)
	}
	snap, err := n.Snapshot(ctx)
	if err != nil || snap == 0 {
		t.Fatalf("Snapshot: %d, %v", snap, err)
	}
	if _, _, err := n.Propose(ctx, add(100)); err != nil {
		t.Fatal(err)
	}
	if st := n.Status(); st.Role != yggr.RoleLeader || st.Leader != "n1" || n.ID() != "n1" {
		t.Fatalf("status %+v, want n1 leading", st)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := n.Propose(ctx, add(1)); !errors.Is(err, yggr.ErrClosed) {
		t.Fatalf("Propose after Close: %v, want ErrClosed", err)
	}

	sm2 := &counter{}
	n2, err := raft.Open(dir, nil, sm2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if _, err := n2.Read(ctx); err != nil {
		t.Fatal(err)
	}
	total, bad := sm2.get()
	if total != 115 || bad != nil {
		t.Fatalf("after restart: total %d (%v), want 115", total, bad)
	}
	if sm2.applies != 1 {
		t.Errorf("after restart Apply ran %d times, want once (the entry after the snapshot)", sm2.applies)
	}
}

// Open refuses what yggr.Open refuses, with the same errors.
func TestOpenValidates(t *testing.T) {
	dir := t.TempDir()
	if _, err := raft.Open(dir, nil, nil); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("nil state machine: %v, want ErrInvalid", err)
	}
	if _, err := raft.Open(dir, nil, &counter{}, yggr.WithTiming(-time.Millisecond, 8)); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("negative tick: %v, want ErrInvalid", err)
	}
	peers := []string{"n1=127.0.0.1:1", "n2=127.0.0.1:2"}
	if _, err := raft.Open(t.TempDir(), peers, &counter{}, yggr.WithID("n1")); !errors.Is(err, yggr.ErrConfig) {
		t.Errorf("a cluster without peer security: %v, want ErrConfig", err)
	}
	n, err := raft.Open(dir, nil, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Read(ctxT(t), yggr.WithConsistency(yggr.Lease)); !errors.Is(err, yggr.ErrLeaseDisabled) {
		t.Errorf("a lease read without WithLeaseReads: %v, want ErrLeaseDisabled", err)
	}
	if _, err := raft.Open(dir, nil, &counter{}); err == nil {
		t.Error("a second Open of a directory in use succeeded")
	}
}

// freeAddr returns a loopback UDP address for a node (testutil.FreeUDPAddr).
func freeAddr(t *testing.T) string { return testutil.FreeUDPAddr(t) }

// Three nodes on loopback: a follower's Propose reaches the leader, every
// node applies it, reads are linearizable on every node, and leadership
// moves.
func TestThreeNodes(t *testing.T) {
	ctx := ctxT(t)
	root := t.TempDir()
	ids := []string{"n1", "n2", "n3"}
	var peers []string
	for _, id := range ids {
		peers = append(peers, id+"="+freeAddr(t))
	}
	nodes := map[string]*raft.Node{}
	sms := map[string]*counter{}
	for _, id := range ids {
		sms[id] = &counter{}
		n, err := raft.Open(filepath.Join(root, id), peers, sms[id], yggr.WithID(id), yggr.WithClusterSecret("raft test secret"), yggr.WithLeaseReads())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes[id] = n
	}
	leader, err := nodes["n1"].WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := "n1"
	if leader == "n1" {
		follower = "n2"
	}
	var last uint64
	for i := range 10 {
		_, index, err := nodes[follower].Propose(ctx, add(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		last = index
	}
	for _, id := range ids {
		for _, c := range []yggr.Consistency{yggr.Linearizable, yggr.Lease, yggr.Stale} {
			index, err := nodes[id].Read(ctx, yggr.WithConsistency(c), yggr.AtLeast(last))
			if err != nil {
				t.Fatalf("%s: %s read: %v", id, c, err)
			}
			if total, bad := sms[id].get(); total != 45 || bad != nil || index < last {
				t.Fatalf("%s: %s read at %d: total %d (%v), want 45 at %d or later", id, c, index, total, bad, last)
			}
		}
	}
	if err := nodes[leader].TransferLeadership(ctx, follower); err != nil {
		t.Fatal(err)
	}
	if st := nodes[follower].Status(); st.Leader != follower || len(st.Members) != 3 {
		t.Fatalf("after the transfer %s reports leader %q and %d members, want itself and 3", follower, st.Leader, len(st.Members))
	}
	// The old leader forwards now.
	if res, _, err := nodes[leader].Propose(ctx, add(5)); err != nil {
		t.Fatal(err)
	} else if got, _ := binary.Varint(res); got != 50 {
		t.Fatalf("Propose through the old leader = %d, want 50", got)
	}
	if err := nodes[follower].RemoveMember(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if st := nodes[follower].Status(); len(st.Members) != 2 {
		t.Fatalf("after removing %s: members %+v", leader, st.Members)
	}
}
