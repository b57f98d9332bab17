package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// demoCmd runs a three-node cluster on loopback and kills its leader.
type demoCmd struct {
	Keys        int           `help:"Keys to write before the failover." default:"3000"`
	Concurrency int           `help:"Concurrent writers." default:"16"`
	Timeout     time.Duration `help:"Give up after this long." default:"2m"`
	Keep        bool          `help:"Keep the temporary directory (data and node logs) afterwards."`
}

// Help is the detailed help with examples.
func (c *demoCmd) Help() string {
	return `Starts three 'yggr serve' processes on 127.0.0.1 (free ports, a temporary
directory, a generated cluster secret), waits for a leader, writes --keys keys,
SIGKILLs the leader, measures how long until the next write succeeds, checks
with linearizable reads that every acknowledged key survived, restarts the old
leader, waits until it has caught up, and prints the cluster's status. It stops
every process and removes the directory when done, or on Ctrl-C.

Examples:
  yggr demo
  go run ./cmd/yggr demo
  yggr demo --keys 10000 --concurrency 32`
}

// executable is the program the demo starts its nodes from: this one.
// Tests point it at a built yggr binary before running any demo (a test
// binary is not one).
var executable = os.Executable

// demoRun is the state of one demo.
type demoRun struct {
	e       *env
	nodes   []*localNode
	clients map[string]*httpapi.Client // per node, one endpoint each
	flags   clientFlags
}

// Run runs the demo.
func (c *demoCmd) Run(e *env) error {
	if c.Keys < 1 || c.Concurrency < 1 {
		return usagef("--keys and --concurrency must be ≥ 1")
	}
	exe, err := executable()
	if err != nil {
		return fmt.Errorf("demo: cannot find this program to start nodes: %w", err)
	}
	root, err := os.MkdirTemp("", "yggr-demo-")
	if err != nil {
		return err
	}
	secretBytes := make([]byte, 16)
	rand.Read(secretBytes)
	nodes, err := newLocalNodes(exe, root, 3, hex.EncodeToString(secretBytes))
	if err != nil {
		os.RemoveAll(root)
		return err
	}
	d := &demoRun{e: e, nodes: nodes, clients: map[string]*httpapi.Client{},
		flags: clientFlags{Timeout: 2 * time.Second}}
	defer func() {
		for _, n := range nodes {
			n.stop(5 * time.Second)
		}
		if c.Keep {
			fmt.Fprintf(e.stdout, "kept %s\n", root)
		} else {
			os.RemoveAll(root)
		}
	}()
	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	err = d.run(ctx, c, root)
	if err != nil {
		for _, n := range nodes {
			if tail := n.logTail(10); tail != "" {
				fmt.Fprintf(e.stderr, "--- %s log (last lines) ---\n%s\n", n.id, tail)
			}
		}
		if e.ctx.Err() != nil {
			return fmt.Errorf("demo: interrupted")
		}
	}
	return err
}

func (d *demoRun) run(ctx context.Context, c *demoCmd, root string) error {
	out := d.e.stdout
	for _, n := range d.nodes {
		cl, err := d.flags.clientFor([]string{"http://" + n.httpAddr})
		if err != nil {
			return err
		}
		d.clients[n.id] = cl
		defer cl.Close()
	}
	fmt.Fprintf(out, "Starting a three-node yggr cluster on 127.0.0.1 in %s\n", root)
	t0 := time.Now()
	for _, n := range d.nodes {
		if err := n.start(); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s  http %-16s raft %s\n", n.id, n.httpAddr, n.raftAddr)
	}
	leader, term, err := d.waitLeader(ctx, nil)
	if err != nil {
		return fmt.Errorf("demo: waiting for a leader: %w", err)
	}
	fmt.Fprintf(out, "Leader elected: %s (term %d) after %v\n\n", leader, term, since(t0))

	// Write the keys through every endpoint.
	all, err := d.clientExcept("")
	if err != nil {
		return err
	}
	defer all.Close()
	fmt.Fprintf(out, "Writing %d keys with %d concurrent clients...\n", c.Keys, c.Concurrency)
	acked, failed, took, err := d.write(ctx, all, c.Keys, c.Concurrency)
	if err != nil {
		return err
	}
	rate := float64(len(acked)) / took.Seconds()
	fmt.Fprintf(out, "  %d writes acknowledged in %v (%.0f writes/s), %d failed\n\n", len(acked), took.Round(time.Millisecond), rate, failed)

	// Kill the leader and measure the failover.
	old := d.node(leader)
	fmt.Fprintf(out, "Killing the leader %s with SIGKILL...\n", leader)
	killed := time.Now()
	if err := old.kill(); err != nil {
		return err
	}
	survivors, err := d.clientExcept(leader)
	if err != nil {
		return err
	}
	defer survivors.Close()
	done, err := d.firstWrite(ctx, survivors)
	failover := done.Sub(killed)
	if err != nil {
		return fmt.Errorf("demo: writing after the kill: %w", err)
	}
	newLeader, newTerm, err := d.waitLeader(ctx, old)
	if err != nil {
		return fmt.Errorf("demo: waiting for a new leader: %w", err)
	}
	fmt.Fprintf(out, "  %s elected leader (term %d); first write accepted %v after the kill\n\n", newLeader, newTerm, failover.Round(time.Millisecond))

	// Every acknowledged key must still be there.
	fmt.Fprintf(out, "Verifying every acknowledged key with linearizable reads...\n")
	verified, err := d.verify(ctx, survivors, acked)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %d/%d acknowledged keys read back with the values written\n\n", verified, len(acked))

	// Restart the old leader and wait for it to catch up.
	fmt.Fprintf(out, "Restarting %s...\n", old.id)
	restarted := time.Now()
	if err := old.start(); err != nil {
		return err
	}
	target, caught, err := d.catchUp(ctx, old, newLeader)
	if err != nil {
		return fmt.Errorf("demo: waiting for %s to catch up: %w", old.id, err)
	}
	fmt.Fprintf(out, "  %s caught up to index %d in %v (now at %d)\n\n", old.id, target, since(restarted), caught)

	eps := make([]string, len(d.nodes))
	for i, n := range d.nodes {
		eps[i] = "http://" + n.httpAddr
	}
	st, err := collectStatus(ctx, &d.flags, eps)
	if err != nil {
		return err
	}
	if err := printStatusTable(out, st.Members); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nSummary\n")
	fmt.Fprintf(out, "  writes          %d acknowledged at %.0f writes/s (3 replicas, each fsynced on a majority)\n", len(acked), rate)
	fmt.Fprintf(out, "  failover        %v from SIGKILL of the leader to the next acknowledged write\n", failover.Round(time.Millisecond))
	fmt.Fprintf(out, "  keys verified   %d/%d after the failover, with linearizable reads\n", verified, len(acked))
	fmt.Fprintf(out, "  rejoin          %s caught up %v after restart\n", old.id, since(restarted))
	fmt.Fprintf(out, "  total           %v\n", since(t0))
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

func (d *demoRun) node(id string) *localNode {
	for _, n := range d.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// clientExcept returns a client over every node's endpoint but one.
func (d *demoRun) clientExcept(id string) (*httpapi.Client, error) {
	var eps []string
	for _, n := range d.nodes {
		if n.id != id {
			eps = append(eps, "http://"+n.httpAddr)
		}
	}
	return d.flags.clientFor(eps)
}

// waitLeader polls the running nodes (but skip) until they all agree on a
// leader that says it leads.
func (d *demoRun) waitLeader(ctx context.Context, skip *localNode) (string, uint64, error) {
	var leader string
	var term uint64
	err := poll(ctx, func() bool {
		leader, term = "", 0
		agree := true
		for _, n := range d.nodes {
			if n == skip || !n.running() {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := d.clients[n.id].Status(sctx)
			cancel()
			if err != nil || st.Leader == "" || (leader != "" && st.Leader != leader) {
				agree = false
				break
			}
			leader = st.Leader
			if st.Role == yggr.RoleLeader {
				term = st.Term
			}
		}
		return agree && leader != "" && term != 0
	})
	return leader, term, err
}

// write writes keys demo/00000... with concurrent clients and returns the
// acknowledged ones.
func (d *demoRun) write(ctx context.Context, cl *httpapi.Client, keys, concurrency int) (acked []int, failed int, took time.Duration, err error) {
	var bar *progressbar.ProgressBar
	if isTerminal(d.e.stderr) {
		bar = progressbar.NewOptions(keys, progressbar.OptionSetWriter(d.e.stderr),
			progressbar.OptionSetDescription("  writing"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionClearOnFinish())
	}
	var next, nfailed atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		// Owned by write, which waits; ends when every key has been tried
		// or ctx ends.
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < keys && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if _, err := cl.Put(ctx, demoKey(i), demoValue(i)); err != nil {
					nfailed.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, i)
				if bar != nil {
					bar.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took = time.Since(start)
	if bar != nil {
		bar.Finish()
	}
	if ctx.Err() != nil {
		return nil, 0, 0, ctx.Err()
	}
	slices.Sort(acked)
	return acked, int(nfailed.Load()), took, nil
}

func demoKey(i int) []byte   { return fmt.Appendf(nil, "demo/%05d", i) }
func demoValue(i int) []byte { return fmt.Appendf(nil, "value-%05d", i) }

// firstWrite retries a write until one succeeds and returns when it did.
func (d *demoRun) firstWrite(ctx context.Context, cl *httpapi.Client) (time.Time, error) {
	start := time.Now()
	var last error
	// Bounded by ctx's deadline.
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := cl.Put(wctx, []byte("demo/failover"), []byte(start.String()))
		cancel()
		if err == nil {
			return time.Now(), nil
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Time{}, errors.Join(ctx.Err(), last)
}

// verify reads every demo key with paged linearizable scans and checks
// that each acknowledged one has its value.
func (d *demoRun) verify(ctx context.Context, cl *httpapi.Client, acked []int) (int, error) {
	prefix := []byte("demo/0")
	got := map[string][]byte{}
	start, end := prefix, yggr.PrefixEnd(prefix)
	// Bounded: every page advances start past at least one key.
	for {
		resp, err := cl.Scan(ctx, httpapi.ScanRequest{Start: start, End: end, Limit: 1000})
		if err != nil {
			return 0, fmt.Errorf("demo: reading back: %w", err)
		}
		for _, it := range resp.Items {
			got[string(it.Key)] = it.Value
		}
		if !resp.More || len(resp.Items) == 0 {
			break
		}
		start = append(slices.Clone(resp.Items[len(resp.Items)-1].Key), 0)
	}
	var missing []string
	for _, i := range acked {
		if v, ok := got[string(demoKey(i))]; !ok || !bytes.Equal(v, demoValue(i)) {
			missing = append(missing, string(demoKey(i)))
		}
	}
	if len(missing) > 0 {
		return len(acked) - len(missing), fmt.Errorf("demo: %d acknowledged keys lost or wrong, e.g. %q", len(missing), missing[0])
	}
	return len(acked), nil
}

// catchUp waits until n has applied everything the leader had committed
// when n restarted.
func (d *demoRun) catchUp(ctx context.Context, n *localNode, leader string) (target, applied uint64, err error) {
	lst, err := d.clients[leader].Status(ctx)
	if err != nil {
		return 0, 0, err
	}
	target = lst.Commit
	err = poll(ctx, func() bool {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := d.clients[n.id].Status(sctx)
		applied = st.Applied
		return err == nil && st.Applied >= target
	})
	return target, applied, err
}
