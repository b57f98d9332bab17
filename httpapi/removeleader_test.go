package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

// TestRemoveLeaderThroughFollower: DELETE /v1/members/{leader} sent to a
// follower says what happened: success when the removal was applied (it
// commits before the leader steps down), never 504 canceled.
func TestRemoveLeaderThroughFollower(t *testing.T) {
	ctx := testCtx(t)
	ids := []string{"n1", "n2", "n3"}
	var peers []string
	addrs := map[string]string{}
	for _, id := range ids {
		addrs[id] = freeUDPAddr(t)
		peers = append(peers, id+"="+addrs[id])
	}
	nodes := map[string]*node{}
	for _, id := range ids {
		nodes[id] = startNode(t, id, addrs[id], peers)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(n.close)
		}
		wg.Wait()
	})
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
	var follower *node
	for _, id := range ids {
		if id != leader {
			follower = nodes[id]
			break
		}
	}
	if err := follower.client.RemoveMember(ctx, leader); err != nil {
		t.Fatalf("remove the leader %s through %s: %v, want success (the removal commits before it steps down)", leader, follower.id, err)
	}
	// Right after, while the others elect a new leader, a write through
	// the follower succeeds or is refused as retryable (503), never 500.
	for i := range 20 {
		_, err := follower.client.Put(ctx, []byte(fmt.Sprintf("after/%d", i)), []byte("v"))
		var api *APIError
		if err != nil && (!errors.As(err, &api) || api.StatusCode != http.StatusServiceUnavailable) {
			t.Errorf("put %d right after the leader left: %v, want success or 503", i, err)
		}
	}
	ms, err := follower.client.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == leader {
			t.Errorf("members after removing %s: %+v, want it gone", leader, ms)
		}
	}
}
