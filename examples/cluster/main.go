// Command cluster runs a three-node yggr cluster inside one process, on
// loopback, secured with a cluster secret: it writes through one node,
// reads through another, and shows a leadership transfer.
//
//	go run ./examples/cluster
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/yggrdb/yggr"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// freeAddr returns a free loopback UDP address for a node's peer port.
func freeAddr() (string, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, err := os.MkdirTemp("", "yggr-cluster-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	ids := []string{"n1", "n2", "n3"}
	var peers []string
	for _, id := range ids {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		peers = append(peers, id+"="+addr)
	}
	dbs := map[string]*yggr.DB{}
	for _, id := range ids {
		db, err := yggr.Open(root+"/"+id, peers, yggr.WithID(id), yggr.WithClusterSecret("example secret"))
		if err != nil {
			return err
		}
		defer db.Close()
		dbs[id] = db
	}
	leader, err := dbs["n1"].WaitLeader(ctx)
	if err != nil {
		return err
	}
	fmt.Println("leader:", leader)

	// Any node accepts writes: followers forward them to the leader.
	if err := dbs["n2"].Put(ctx, []byte("city"), []byte("Uppsala")); err != nil {
		return err
	}
	v, err := dbs["n3"].Get(ctx, []byte("city")) // linearizable, from a follower
	if err != nil {
		return err
	}
	fmt.Printf("n3 reads city=%s\n", v)

	// Hand leadership to another node.
	to := "n1"
	if leader == "n1" {
		to = "n2"
	}
	if err := dbs[leader].TransferLeadership(ctx, to); err != nil {
		return err
	}
	fmt.Println("leadership transferred to:", dbs[leader].Status().Leader)
	for _, id := range ids {
		s := dbs[id].Status()
		fmt.Printf("%s role=%-9s term=%d commit=%d applied=%d\n", id, s.Role, s.Term, s.Commit, s.Applied)
	}
	return nil
}
