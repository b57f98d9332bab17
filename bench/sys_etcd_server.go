package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// sysEtcdServer is three real etcd processes driven by etcd's own Go
// client (gRPC).
const sysEtcdServer = "etcd-server"

// etcdInstallHint says how to get the etcd binary the etcd-server system
// starts.
const etcdInstallHint = "install it with bench/scripts/install-etcd.sh (Debian package etcd-server, etcd 3.4), or pass -etcd-bin"

// etcdServerSys is a three-member etcd cluster of real `etcd` processes
// on loopback, each with a fresh data directory under the run's root,
// its own client and peer port, default timeouts (heartbeat 100 ms,
// election 1 s) and fsync on. The load's client is clientv3 with the
// leader's endpoint alone, as yggr-serve's load is sent to the leader:
// one gRPC connection, requests multiplexed on it.
type etcdServerSys struct {
	bin   string
	nodes [3]*serveNode
	// urls are the client URLs, "http://127.0.0.1:port".
	urls [3]string
	// cli is the load's client (the leader's endpoint at start).
	cli *clientv3.Client
	// failoverStop is how long the last Failover's leader took from
	// SIGTERM to exit.
	failoverStop time.Duration
}

// etcdBinary returns the path of the etcd binary bin (a path, or a name
// looked up in PATH), or an error saying how to install it.
func etcdBinary(bin string) (string, error) {
	if bin == "" {
		bin = "etcd"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("bench: %s: no etcd binary (%v); %s", sysEtcdServer, err, etcdInstallHint)
	}
	return p, nil
}

// startEtcdServer starts three etcd processes of bin with their data and
// logs under root, waits until they have a leader, and connects the load's
// client to it. On error every started process is stopped.
func startEtcdServer(ctx context.Context, bin, root string) (*etcdServerSys, error) {
	bin, err := etcdBinary(bin)
	if err != nil {
		return nil, err
	}
	ports, err := freeTCPPorts(6) // three client ports, three peer ports
	if err != nil {
		return nil, err
	}
	var cluster []string
	for i := range 3 {
		cluster = append(cluster, fmt.Sprintf("e%d=http://%s", i+1, ports[3+i]))
	}
	s := &etcdServerSys{bin: bin}
	for i := range 3 {
		id := fmt.Sprintf("e%d", i+1)
		s.urls[i] = "http://" + ports[i]
		peer := "http://" + ports[3+i]
		s.nodes[i] = &serveNode{id: id, httpAddr: ports[i], logPath: filepath.Join(root, id+".log"),
			args: []string{"--name", id, "--data-dir", filepath.Join(root, id),
				"--listen-client-urls", s.urls[i], "--advertise-client-urls", s.urls[i],
				"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
				"--initial-cluster", strings.Join(cluster, ","), "--initial-cluster-state", "new",
				"--initial-cluster-token", "bench-" + filepath.Base(root),
				"--logger", "zap", "--log-level", "warn"}}
	}
	fail := func(err error) (*etcdServerSys, error) { return nil, errors.Join(err, s.Close()) }
	for _, n := range s.nodes {
		if err := n.start(bin); err != nil {
			return fail(err)
		}
	}
	if err := s.waitReady(ctx, 0, 1, 2); err != nil {
		return fail(err)
	}
	l, err := s.leader(ctx)
	if err != nil {
		return fail(err)
	}
	if s.cli, err = newEtcdClient(s.urls[l]); err != nil {
		return fail(err)
	}
	return s, nil
}

// newEtcdClient returns a clientv3 client of the given endpoints, quiet.
func newEtcdClient(endpoints ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// status asks member i for its status through a short-lived client, with
// a serveCtlTimeout bound.
func (s *etcdServerSys) status(ctx context.Context, i int) (*clientv3.StatusResponse, error) {
	if !s.nodes[i].running() {
		return nil, fmt.Errorf("bench: %s: %s not running", sysEtcdServer, s.nodes[i].id)
	}
	c, err := newEtcdClient(s.urls[i])
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, serveCtlTimeout)
	defer cancel()
	return c.Status(ctx, s.urls[i])
}

// waitReady polls the given members' status until each answers and knows
// a leader, for at most serveReadyTimeout; a member whose process exits
// fails it at once.
func (s *etcdServerSys) waitReady(ctx context.Context, nodes ...int) error {
	ctx, cancel := context.WithTimeout(ctx, serveReadyTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		ready := 0
		for _, i := range nodes {
			if err := s.nodes[i].exited(); err != nil {
				return err
			}
			st, err := s.status(ctx, i)
			switch {
			case err != nil:
				last = err
			case st.Leader == 0:
				last = fmt.Errorf("%s: no leader yet", s.nodes[i].id)
			default:
				ready++
			}
		}
		if ready == len(nodes) {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // poll, bounded by ctx
	}
	return fmt.Errorf("bench: %s: members %v not ready within %v: %w", sysEtcdServer, nodes, serveReadyTimeout, last)
}

// leader returns the index of the member whose status says it leads,
// waiting up to 10 s.
func (s *etcdServerSys) leader(ctx context.Context) (int, error) {
	return findLeader(ctx, sysEtcdServer, func(i int) bool {
		st, err := s.status(ctx, i)
		return err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId
	})
}

func (s *etcdServerSys) Put(ctx context.Context, key, value []byte) error {
	_, err := s.cli.Put(ctx, string(key), string(value))
	return err
}

// Read reads key linearizably (etcd's default) or serializably ("stale":
// the answering member's state); etcd has no lease read.
func (s *etcdServerSys) Read(ctx context.Context, mode string, key []byte) error {
	var opts []clientv3.OpOption
	switch mode {
	case "linearizable":
	case "stale":
		opts = append(opts, clientv3.WithSerializable())
	default:
		return errUnsupported
	}
	_, err := s.cli.Get(ctx, string(key), opts...)
	return err
}

// StopFollower stops a follower (SIGTERM); the restart starts it with the
// same arguments and measures until its applied index reaches the
// leader's raft index at the restart. "Open" is the time until the
// restarted member first answers a status request.
func (s *etcdServerSys) StopFollower(ctx context.Context) (func(context.Context) (time.Duration, time.Duration, error), error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	f := (l + 1) % 3
	if err := s.nodes[f].stop(); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (total, open time.Duration, err error) {
		st, err := s.status(ctx, l)
		if err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := s.nodes[f].start(s.bin); err != nil {
			return 0, 0, err
		}
		applied := func() uint64 {
			st, err := s.status(ctx, f)
			if err != nil {
				return 0
			}
			if open == 0 {
				open = time.Since(t0)
			}
			return st.RaftAppliedIndex
		}
		d, err := waitApplied(ctx, sysEtcdServer, t0, st.RaftIndex, applied)
		return d, open, errors.Join(err, s.nodes[f].exited())
	}, nil
}

// writeVia writes through member i (which forwards to the leader) every
// 1 ms with a 250 ms timeout per attempt until one succeeds, for at most
// 60 s, and returns the time since t0.
func (s *etcdServerSys) writeVia(ctx context.Context, i int, t0 time.Time) (time.Duration, error) {
	c, err := newEtcdClient(s.urls[i])
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for n := int64(0); ctx.Err() == nil; n++ {
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, last = c.Put(pctx, string(key16(3e12+n)), "failover")
		pcancel()
		if last == nil {
			return time.Since(t0), nil
		}
		time.Sleep(time.Millisecond) // back off, bounded by ctx
	}
	return time.Since(t0), fmt.Errorf("bench: %s: no write within 60s after failover: %w", sysEtcdServer, last)
}

// Failover stops the leader's process (SIGTERM: etcd hands its leadership
// to a follower before it exits), then writes through another member.
func (s *etcdServerSys) Failover(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	s.cli.Close() // the load is over; its connection is the leader's
	t0 := time.Now()
	if err := s.nodes[l].stop(); err != nil {
		return 0, err
	}
	s.failoverStop = time.Since(t0)
	return s.writeVia(ctx, (l+1)%3, t0)
}

// FailoverNote says how much of the last failover the leader's exit took.
func (s *etcdServerSys) FailoverNote() string {
	return fmt.Sprintf("the leader's process took %.0f ms from SIGTERM to exit; the writes start after it", ms(s.failoverStop))
}

// FailoverKill kills the leader's process (SIGKILL), writes through
// another member until a write succeeds, then restarts the killed member
// and waits until it is ready again.
func (s *etcdServerSys) FailoverKill(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	s.nodes[l].kill()
	d, err := s.writeVia(ctx, (l+1)%3, t0)
	if err != nil {
		return d, err
	}
	if err := s.nodes[l].start(s.bin); err != nil {
		return d, err
	}
	return d, s.waitReady(ctx, 0, 1, 2)
}

// ServerCPU returns the CPU time used so far by the running etcd
// processes, summed.
func (s *etcdServerSys) ServerCPU() time.Duration { return nodesCPU(s.nodes[:]) }

// ServerMem returns the sum of the members' peak VmHWM and of the running
// ones' VmRSS, in MiB.
func (s *etcdServerSys) ServerMem() (hwm, rss float64) { return nodesMem(s.nodes[:]) }

// Close closes the client and stops every member (at once, each
// gracefully). It may be called more than once.
func (s *etcdServerSys) Close() error {
	if s.cli != nil {
		s.cli.Close()
	}
	return stopNodes(s.nodes[:])
}

// NodeCPU returns the CPU time used so far by member i's running process.
func (s *etcdServerSys) NodeCPU(i int) time.Duration { return nodeCPU(s.nodes[i]) }

// nodesCPU sums the CPU time of the running processes of nodes.
func nodesCPU(nodes []*serveNode) time.Duration {
	var sum time.Duration
	for _, n := range nodes {
		sum += nodeCPU(n)
	}
	return sum
}

// nodeCPU returns the CPU time of n's process if it is running, else 0.
func nodeCPU(n *serveNode) time.Duration {
	if n != nil && n.running() {
		if d, err := procCPU(n.cmd.Process.Pid); err == nil {
			return d
		}
	}
	return 0
}

// nodesMem returns the sum over nodes of their peak VmHWM (a node stopped
// or restarted counts the largest of its processes) and the sum of the
// running processes' VmRSS, in MiB.
func nodesMem(nodes []*serveNode) (hwm, rss float64) {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		peak := n.peakHWM
		if n.running() {
			if h, r, err := procMemOf(strconv.Itoa(n.cmd.Process.Pid)); err == nil {
				peak = max(peak, h)
				rss += r
			}
		}
		hwm += peak
	}
	return hwm, rss
}

// stopNodes stops every node at once, each gracefully, and waits.
func stopNodes(nodes []*serveNode) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		// Owned by stopNodes, which waits for it; ends when the process has
		// exited (at the latest serveStopTimeout after SIGTERM).
		go func() {
			defer wg.Done()
			errs[i] = n.stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
