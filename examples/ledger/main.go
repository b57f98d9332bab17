// Command ledger replicates a state machine of its own, an append-only
// ledger of account transfers, on three nodes of package raft inside one
// process, on loopback, secured with a cluster secret. It proposes through
// a follower, shows a debit every node refuses alike, reads a balance
// linearizably from another node, and restarts a node from its snapshot.
//
//	go run ./examples/ledger
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/raft"
)

func main() {
	if err := run(os.Stdout); err != nil {
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

// transfer proposes a transfer through n and decodes the ledger's answer.
func transfer(ctx context.Context, n *raft.Node, account string, amount int64) (Result, uint64, error) {
	data, index, err := n.Propose(ctx, Command(account, amount))
	if err != nil {
		return Result{}, 0, err
	}
	var res Result
	err = json.Unmarshal(data, &res)
	return res, index, err
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, err := os.MkdirTemp("", "yggr-ledger-example-")
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
	opts := func(id string) []yggr.Option {
		return []yggr.Option{yggr.WithID(id), yggr.WithClusterSecret("ledger example secret")}
	}
	nodes, ledgers := map[string]*raft.Node{}, map[string]*Ledger{}
	for _, id := range ids {
		ledgers[id] = NewLedger()
		n, err := raft.Open(filepath.Join(root, id), peers, ledgers[id], opts(id)...)
		if err != nil {
			return err
		}
		defer func() { nodes[id].Close() }()
		nodes[id] = n
	}
	leader, err := nodes["n1"].WaitLeader(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "leader:", leader)
	follower := "n2"
	if leader == "n2" {
		follower = "n3"
	}

	// Any node accepts proposals: a follower forwards them to the leader.
	res, _, err := transfer(ctx, nodes[follower], "alice", 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "deposit 100 to alice via %s: ok=%v balance=%d\n", follower, res.OK, res.Balance)
	res, index, err := transfer(ctx, nodes[follower], "alice", -250)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "withdraw 250 from alice: ok=%v error=%q balance=%d\n", res.OK, res.Error, res.Balance)

	// A linearizable read on another node: once Read returns, its ledger
	// has applied everything acknowledged before the read began.
	var other string
	for _, id := range ids {
		if id != leader && id != follower {
			other = id
		}
	}
	if _, err := nodes[other].Read(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s reads alice=%d (%d records, last index %d)\n", other, ledgers[other].Balance("alice"), ledgers[other].Len(), index)

	// Snapshot a node, write once more, and restart it: it restores the
	// snapshot and applies the log after it.
	if _, err := nodes[other].Snapshot(ctx); err != nil {
		return err
	}
	if _, _, err := transfer(ctx, nodes[leader], "bob", 7); err != nil {
		return err
	}
	if err := nodes[other].Close(); err != nil {
		return err
	}
	ledgers[other] = NewLedger()
	if nodes[other], err = raft.Open(filepath.Join(root, other), peers, ledgers[other], opts(other)...); err != nil {
		return err
	}
	if _, err := nodes[other].Read(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s after restart: alice=%d bob=%d (%d records)\n", other, ledgers[other].Balance("alice"), ledgers[other].Balance("bob"), ledgers[other].Len())
	return nil
}
