package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestServeRemoveLeaderThroughFollower: with clients writing, `yggr members
// remove <leader>` sent to a follower of three real serve processes
// answers what happened: OK when the removal was applied (issue 18: it
// answered 504 canceled although the leader was gone). It is done twice,
// three voters to two to one.
func TestServeRemoveLeaderThroughFollower(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	ids := []string{"n1", "n2", "n3"}
	makeCerts(t, certs, ids...)
	https, rafts, peers := peerAddrs(t, ids...)
	nodes := map[string]*servedNode{}
	for i, id := range ids {
		n := serveIn(t, append(peerArgs(certs, id, filepath.Join(root, id), https[i], rafts[i]), "--peers", peers)...)
		n.httpAddr = https[i]
		nodes[id] = n
	}
	for _, n := range nodes {
		waitReady(t, n, 30*time.Second)
	}

	// Clients write through every node until the test ends.
	ctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWriters()
	for w := range 4 {
		cl := testClient(t, https[w%3])
		wg.Go(func() {
			for i := 0; i < 1<<20 && ctx.Err() == nil; i++ {
				_, _ = cl.Put(ctx, []byte(fmt.Sprintf("w%d/%d", w, i%100)), []byte("v"))
			}
		})
	}

	for round := range 2 {
		leader, follower := "", ""
		deadline, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := poll(deadline, func() bool {
			leader, follower = "", ""
			for id, n := range nodes {
				st, err := testClient(t, n.httpAddr).Status(deadline)
				if err != nil || st.Leader == "" || st.Leader == id {
					continue
				}
				// A leader refuses membership changes until it has
				// committed an entry of its term: a write through it
				// shows it has.
				cl := testClient(t, n.httpAddr)
				if _, err := cl.Put(deadline, []byte("probe"), []byte("v")); err != nil {
					continue
				}
				if st2, err := cl.Status(deadline); err != nil || st2.Leader != st.Leader {
					continue
				}
				leader, follower = st.Leader, id
				return true
			}
			return false
		})
		cancel()
		if err != nil {
			t.Fatalf("round %d: no follower knows a leader: %v", round, err)
		}
		r := runIn(t, "", "members", "remove", leader, "--addr", nodes[follower].httpAddr, "--timeout", "10s")
		if r.code != exitOK || r.stdout != "OK\n" {
			t.Errorf("round %d: members remove %s through %s: got %v, want OK (the removal is applied)", round, leader, follower, r)
		}
		ms, err := testClient(t, nodes[follower].httpAddr).Members(context.Background())
		if err != nil {
			t.Fatalf("round %d: members: %v", round, err)
		}
		for _, m := range ms {
			if m.ID == leader {
				t.Errorf("round %d: members after removing %s: %+v, want it gone", round, leader, ms)
			}
		}
		delete(nodes, leader)
	}
}
