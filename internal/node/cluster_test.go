package node

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/chaosnet"
)

// chaosCluster is Nodes in one process over internal/chaosnet (the real
// codec, faults injected by the test), each with its log in memory.
type chaosCluster struct {
	t     *testing.T
	net   *chaosnet.Net
	ids   []engine.NodeID
	nodes map[engine.NodeID]*Node
}

// newChaosCluster starts size voters n1, n2, ... ticking every tick, with
// ecfg's protocol settings, each Config passed through tweaks before it
// starts; t's cleanup closes them.
func newChaosCluster(t *testing.T, size int, tick time.Duration, ecfg engine.Config, tweaks ...func(*Config)) *chaosCluster {
	t.Helper()
	return newChaosClusterOn(t, chaosnet.New(uint64(size)), size, tick, ecfg, tweaks...)
}

// newChaosClusterOn is newChaosCluster on net, which the test may have set
// up (faults from the first message on).
func newChaosClusterOn(t *testing.T, net *chaosnet.Net, size int, tick time.Duration, ecfg engine.Config, tweaks ...func(*Config)) *chaosCluster {
	t.Helper()
	c := &chaosCluster{t: t, net: net, nodes: map[engine.NodeID]*Node{}}
	peers := map[engine.NodeID]string{}
	for i := 1; i <= size; i++ {
		id := engine.NodeID(fmt.Sprintf("n%d", i))
		c.ids = append(c.ids, id)
		peers[id] = fmt.Sprintf("127.0.0.1:%d", 7000+i) // chaosnet ignores addresses
	}
	t.Cleanup(c.close)
	for _, id := range c.ids {
		cfg := Config{ID: id, Dir: t.TempDir(), InMemory: true, Peers: maps.Clone(peers), Network: c.net.Endpoint(id),
			StateMachine: &bytesMachine{}, TickInterval: tick, Engine: ecfg}
		for _, tweak := range tweaks {
			tweak(&cfg)
		}
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[id] = n
	}
	return c
}

// leader returns the node that leads, if exactly one of the running nodes
// does in the highest term any of them leads in.
func (c *chaosCluster) leader() (*Node, bool) {
	var lead *Node
	var term uint64
	for _, id := range c.ids {
		n := c.nodes[id]
		if n.stopped() {
			continue
		}
		if st := n.status.Load(); st.Role == engine.Leader && st.Term >= term {
			if st.Term == term && lead != nil {
				return nil, false
			}
			lead, term = n, st.Term
		}
	}
	return lead, lead != nil
}

func (c *chaosCluster) close() {
	for _, n := range c.nodes {
		n.Close()
	}
	c.net.Close()
}
