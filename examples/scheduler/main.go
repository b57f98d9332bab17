// Command scheduler runs a worker pool on a three-node yggr cluster inside
// one process, on loopback: every worker campaigns to be the scheduler;
// the elected one creates jobs, and every worker claims and runs them.
// Halfway through, the scheduler's node dies; another worker is elected
// once the dead one's session lease expires, and it carries on from the
// last job scheduled, with no job scheduled twice (its writes are guarded
// by its leadership, so a deposed scheduler cannot write).
//
//	go run ./examples/scheduler
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
)

func main() {
	if _, err := run(os.Stdout, 12); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

const (
	election   = "scheduler"
	counterKey = "jobs-scheduled" // the number of the last job scheduled
	jobsPrefix = "jobs/"          // jobs/<n>: "pending", then the worker that claimed it
	sessionTTL = 2 * time.Second  // a dead scheduler is replaced within about this long
)

// summary is what a run did, for the test.
type summary struct {
	// schedulers are the workers elected, in order.
	schedulers []string
	// scheduledBy maps each job to the scheduler (worker) that created it.
	scheduledBy map[int]string
	// ranBy maps each job to the worker that ran it.
	ranBy map[int]string
}

type worker struct {
	name string
	db   *yggr.DB
	out  *syncWriter
	sum  *summary
	mu   *sync.Mutex // guards sum
}

// run starts three workers, kills the scheduler's node after half the
// jobs, and returns once jobs jobs have been run.
func run(w io.Writer, jobs int) (*summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := os.MkdirTemp("", "yggr-scheduler-example-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	out := &syncWriter{w: w}
	sum := &summary{scheduledBy: map[int]string{}, ranBy: map[int]string{}}
	var mu sync.Mutex

	ids := []string{"w1", "w2", "w3"}
	var peers []string
	for _, id := range ids {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		peers = append(peers, id+"="+addr)
	}
	dbs := map[string]*yggr.DB{}
	for _, id := range ids {
		db, err := yggr.Open(filepath.Join(root, id), peers, yggr.WithID(id), yggr.WithClusterSecret("example secret"))
		if err != nil {
			return nil, err
		}
		defer db.Close() // closing twice is harmless
		dbs[id] = db
	}
	if _, err := dbs["w1"].WaitLeader(ctx); err != nil {
		return nil, err
	}

	// Each worker runs until its own context ends (or its node dies).
	stops := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wctx, stop := context.WithCancel(ctx)
		stops[id] = stop
		wk := &worker{name: id, db: dbs[id], out: out, sum: sum, mu: &mu}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wk.run(wctx); err != nil && wctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		}()
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()

	killed := false
	for tick := time.NewTicker(20 * time.Millisecond); ; {
		mu.Lock()
		ran, first := len(sum.ranBy), ""
		if len(sum.schedulers) > 0 {
			first = sum.schedulers[0]
		}
		mu.Unlock()
		if ran >= jobs {
			break
		}
		if !killed && ran >= jobs/2 {
			// The scheduler's node dies: the process stops the worker and
			// closes its database, without resigning or revoking.
			fmt.Fprintf(out, "-- %s's node dies --\n", first)
			stops[first]()
			dbs[first].Close()
			killed = true
		}
		select {
		case err := <-errs:
			return nil, err
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d jobs ran: %w", ran, jobs, ctx.Err())
		case <-tick.C:
		}
	}
	mu.Lock()
	fmt.Fprintf(out, "%d jobs ran; schedulers in turn: %v\n", len(sum.ranBy), sum.schedulers)
	mu.Unlock()
	return sum, nil
}

// run is one worker: it claims and runs jobs, and campaigns to be the
// scheduler; once elected, it schedules jobs until its session ends.
func (w *worker) run(ctx context.Context) error {
	s, err := concurrency.NewSession(ctx, w.db, concurrency.WithTTL(sessionTTL))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	claimed := make(chan error, 1)
	// The claimer: owned by this worker, it ends with ctx.
	go func() { claimed <- w.claim(ctx) }()

	e := concurrency.NewElection(s, election)
	if err := e.Campaign(ctx, []byte(w.name)); err != nil {
		cancel()
		<-claimed
		return err
	}
	w.mu.Lock()
	w.sum.schedulers = append(w.sum.schedulers, w.name)
	w.mu.Unlock()
	fmt.Fprintf(w.out, "%s: elected scheduler (fencing token %d)\n", w.name, e.Rev())
	err = w.schedule(ctx, s, e)
	cancel()
	return errors.Join(err, <-claimed)
}

// schedule creates a job every 50ms while this worker leads. Each job is
// created in one transaction guarded by the leadership: a scheduler that
// lost it (its session expired while it was paused) changes nothing.
func (w *worker) schedule(ctx context.Context, s *concurrency.Session, e *concurrency.Election) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Done():
			return nil // no longer the leader
		case <-t.C:
		}
		it, err := w.db.GetItem(ctx, []byte(counterKey))
		n := 0
		switch {
		case errors.Is(err, yggr.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(string(it.Value)); err != nil {
				return err
			}
		}
		n++
		res, err := w.db.Txn(ctx, yggr.Txn{
			Compares: []yggr.Compare{e.Guard()},
			Then: []yggr.Request{
				{Op: yggr.OpPut, Key: []byte(counterKey), Value: []byte(strconv.Itoa(n))},
				{Op: yggr.OpPut, Key: []byte(jobsPrefix + fmt.Sprintf("%06d", n)), Value: []byte("pending")},
			},
		})
		if err != nil {
			return err
		}
		if !res.Succeeded {
			return nil // deposed
		}
		w.mu.Lock()
		w.sum.scheduledBy[n] = w.name
		w.mu.Unlock()
		fmt.Fprintf(w.out, "%s: scheduled job %d\n", w.name, n)
	}
}

// claim watches the jobs and claims each pending one with a
// compare-and-swap (one worker wins each), then "runs" it.
func (w *worker) claim(ctx context.Context) error {
	var rev uint64
	items, _, err := w.db.List(ctx, []byte(jobsPrefix), yggr.PrefixEnd([]byte(jobsPrefix)), 0, yggr.ReadRevision(&rev))
	if err != nil {
		return err
	}
	for _, it := range items {
		w.tryRun(ctx, it.Key, it.Value)
	}
	for c, err := range w.db.Watch(ctx, []byte(jobsPrefix), yggr.PrefixEnd([]byte(jobsPrefix)), yggr.FromRevision(rev+1)) {
		if err != nil {
			return err
		}
		for _, ev := range c.Events {
			if ev.Type == yggr.EventPut {
				w.tryRun(ctx, ev.Item.Key, ev.Item.Value)
			}
		}
	}
	return nil
}

func (w *worker) tryRun(ctx context.Context, key, value []byte) {
	if string(value) != "pending" {
		return
	}
	ok, err := w.db.CompareAndSwap(ctx, key, value, []byte(w.name))
	if err != nil || !ok {
		return // another worker claimed it, or this node is going away
	}
	n, _ := strconv.Atoi(string(key[len(jobsPrefix):]))
	w.mu.Lock()
	w.sum.ranBy[n] = w.name
	w.mu.Unlock()
	fmt.Fprintf(w.out, "%s: ran job %d\n", w.name, n)
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

// syncWriter serializes the workers' lines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
