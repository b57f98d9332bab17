package httpapi

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr"

	"github.com/yggrdb/yggr/internal/testutil"
	"github.com/yggrdb/yggr/netquic"
)

// freeUDPAddr returns a loopback UDP address for a node (testutil.FreeUDPAddr).
func freeUDPAddr(t *testing.T) string { return testutil.FreeUDPAddr(t) }

// node is one member of a test cluster with its HTTP API.
type node struct {
	id     string
	peer   string // QUIC address
	db     *yggr.DB
	srv    *httptest.Server
	client *Client
}

func startNode(t *testing.T, id, peer string, peers []string, opts ...yggr.Option) *node {
	t.Helper()
	opts = append([]yggr.Option{yggr.WithID(id), yggr.WithInsecure(), yggr.WithUnsafeNoSync(),
		yggr.WithTiming(20*time.Millisecond, 10)}, opts...)
	db, err := yggr.Open(t.TempDir(), peers, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	srv := httptest.NewServer(NewHandler(db, Options{}))
	n := &node{id: id, peer: peer, db: db, srv: srv}
	n.client = newClient(t, []string{srv.URL}, ClientOptions{})
	return n
}

func (n *node) close() {
	n.srv.Close()
	n.db.Close()
}

// TestThreeNodeCluster runs the API over three real nodes (QUIC on
// loopback): writes and reads through every node, failover in the client,
// leadership transfer, and a fourth node joining as a learner, promoted,
// then removed.
func TestThreeNodeCluster(t *testing.T) {
	ctx := testCtx(t)
	ids := []string{"n1", "n2", "n3"}
	var peers []string
	addrs := map[string]string{}
	for _, id := range ids {
		addrs[id] = freeUDPAddr(t)
		peers = append(peers, id+"="+addrs[id])
	}
	nodes := map[string]*node{}
	var endpoints []string
	for _, id := range ids {
		nodes[id] = startNode(t, id, addrs[id], peers)
		endpoints = append(endpoints, nodes[id].srv.URL)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(n.close)
		}
		wg.Wait()
	})

	// Until a leader is elected and known everywhere, /readyz says 503.
	leader := ""
	testutil.WaitFor(t, "a leader known to every node", func() bool {
		leader = ""
		for _, id := range ids {
			st, err := nodes[id].client.Status(ctx)
			if err != nil || st.Leader == "" || (leader != "" && st.Leader != leader) {
				return false
			}
			leader = st.Leader
		}
		return true
	})
	for _, id := range ids {
		testutil.WaitFor(t, id+" ready", func() bool { return nodes[id].client.Readyz(ctx) == nil })
	}

	// A client whose first endpoint is dead writes through whatever node
	// answers; followers forward to the leader.
	all := newClient(t, append([]string{deadAddr(t)}, endpoints...), ClientOptions{})
	var last uint64
	for i, id := range ids {
		index, err := nodes[id].client.Put(ctx, []byte(fmt.Sprintf("k%d", i)), []byte(id))
		if err != nil {
			t.Fatalf("Put via %s (leader %s): %v", id, leader, err)
		}
		last = max(last, index)
	}
	if _, err := all.Put(ctx, []byte("via/all"), []byte("x")); err != nil {
		t.Fatalf("Put via the failover client: %v", err)
	}
	for _, id := range ids {
		for i, w := range ids {
			got, _, err := nodes[id].client.Get(ctx, []byte(fmt.Sprintf("k%d", i)))
			if err != nil || string(got) != w {
				t.Fatalf("Get k%d via %s = %q, %v; want %q", i, id, got, err, w)
			}
		}
		res, err := nodes[id].client.Scan(ctx, ScanRequest{Prefix: []byte("k")})
		if err != nil || len(res.Items) != 3 {
			t.Fatalf("Scan via %s = %+v, %v; want 3 items", id, res, err)
		}
		ms, err := nodes[id].client.Members(ctx)
		want := []yggr.Member{{ID: "n1", Addr: addrs["n1"], Voter: true}, {ID: "n2", Addr: addrs["n2"], Voter: true}, {ID: "n3", Addr: addrs["n3"], Voter: true}}
		if diff := cmp.Diff(want, ms); err != nil || diff != "" {
			t.Errorf("Members via %s: %v (-want +got):\n%s", id, err, diff)
		}
	}
	if metrics, err := nodes[leader].client.Metrics(ctx); err != nil || !strings.Contains(metrics, `yggr_follower_match_index{peer=`) {
		t.Errorf("leader metrics lack yggr_follower_match_index (err %v)", err)
	}
	for _, id := range ids {
		if id == leader {
			continue
		}
		// The leader has talked to every follower, on this release's version.
		want := fmt.Sprintf(`yggr_peer_wire_version{peer=%q} %d`, id, netquic.Version)
		if metrics, err := nodes[leader].client.Metrics(ctx); err != nil || !strings.Contains(metrics, want) {
			t.Errorf("leader metrics lack %s (err %v)", want, err)
		}
	}

	// Leadership moves to a follower on request, asked through another.
	target := ids[0]
	if target == leader {
		target = ids[1]
	}
	if err := all.TransferLeadership(ctx, target); err != nil {
		t.Fatalf("TransferLeader to %s: %v", target, err)
	}
	testutil.WaitFor(t, "leadership at "+target, func() bool {
		st, err := nodes[target].client.Status(ctx)
		return err == nil && st.Leader == target && st.Role == yggr.RoleLeader
	})

	// A fourth node joins as a learner, is promoted, then removed.
	addr4 := freeUDPAddr(t)
	n4 := startNode(t, "n4", addr4, []string{"n4=" + addr4}, yggr.WithJoin())
	defer n4.close()
	if err := n4.client.Readyz(ctx); !errors.Is(err, yggr.ErrNoLeader) {
		t.Errorf("Readyz on a node not yet added: %v, want 503 no_leader", err)
	}
	if err := all.AddLearner(ctx, "n4", addr4); err != nil {
		t.Fatalf("AddMember n4: %v", err)
	}
	testutil.WaitFor(t, "n4 ready", func() bool { return n4.client.Readyz(ctx) == nil })
	testutil.WaitFor(t, "n4 promoted", func() bool {
		err := all.Promote(ctx, "n4")
		if err != nil && !errors.Is(err, yggr.ErrMembership) { // not caught up yet: retry
			t.Fatalf("PromoteMember n4: %v", err)
		}
		return err == nil
	})
	got, _, err := n4.client.Get(ctx, []byte("via/all"))
	if err != nil || string(got) != "x" {
		t.Errorf("Get via n4 = %q, %v; want x", got, err)
	}
	// Members is the answering node's view: a follower may not have
	// applied the promotion yet (failed once so), but it gets there.
	testutil.WaitFor(t, "every endpoint to list n4 as a voter", func() bool {
		ms, err := all.Members(ctx)
		if err != nil {
			t.Fatalf("Members after promoting n4: %v", err)
		}
		return len(ms) == 4 && ms[3].Voter
	})
	if err := all.RemoveMember(ctx, "n4"); err != nil {
		t.Fatalf("RemoveMember n4: %v", err)
	}
	testutil.WaitFor(t, "n4 removed", func() bool {
		ms, err := all.Members(ctx)
		return err == nil && len(ms) == 3
	})
}
