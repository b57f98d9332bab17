package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// The two variants of the yggr-serve system: the same three `yggr serve`
// processes, driven by the project's Go client or by plain net/http.
const (
	sysServe     = "yggr-serve"      // httpapi.Client with its default options
	sysServeHTTP = "yggr-serve-http" // net/http with a tuned Transport
)

// Bounds of the waits on server processes.
const (
	serveReadyTimeout = 60 * time.Second // start to every node ready
	serveStopTimeout  = 15 * time.Second // SIGTERM to exit; then SIGKILL
	serveCtlTimeout   = time.Second      // one status or readiness request
)

// serveCPUProfile, when not empty, makes every `yggr serve` process write
// a CPU profile of its run to serveCPUProfile + "." + its ID (the bench's
// -cpuprofile, for the yggr-serve systems).
var serveCPUProfile string

// serveSys is a three-node cluster of real `yggr serve` processes on
// loopback, each with its own data directory, HTTP and Raft (QUIC) port,
// the same --peers and a generated --cluster-secret, and --lease so that
// lease reads can be measured as for the embedded yggr. The harness talks
// to it over HTTP only: /readyz and /v1/status to find the leader and wait,
// PUT and GET /v1/kv/{key} for the load.
type serveSys struct {
	name  string
	bin   string
	nodes [3]*serveNode
	// ctl sends status polls and the failover writes.
	ctl *http.Client
	// api is the load's client of yggr-serve (nil for yggr-serve-http):
	// httpapi.NewClient with default options, the leader's endpoint first.
	api *httpapi.Client
	// raw is the load's client of yggr-serve-http (nil for yggr-serve).
	raw *http.Client
	// cached is the last leader index seen, or -1 (see yggrSys.cached);
	// yggr-serve-http only: the httpapi client keeps its own preference.
	cached leaderCache
	// failoverStop is how long the last Failover's leader took from
	// SIGTERM to exit (part of the failover time).
	failoverStop time.Duration
}

// serveNode is one `yggr serve` process, restartable with the same
// arguments.
type serveNode struct {
	id, httpAddr string
	// kvURL is "http://<http-addr>/v1/kv/"; a key16 needs no escaping.
	kvURL   string
	args    []string
	logPath string
	cmd     *exec.Cmd
	// done is closed once the process has exited and been waited for;
	// waitErr is cmd.Wait's result, set before done is closed.
	done    chan struct{}
	waitErr error
	// peakHWM is the largest VmHWM (MiB) of this node's processes that
	// were stopped (a restarted node counts its larger peak).
	peakHWM float64
}

// buildServe builds cmd/yggr of the yggr module this harness is built
// against (the directory bench/go.mod's replace points to, found with
// `go list -m` in the current directory) into dir, and returns the
// binary's path.
func buildServe(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/yggrdb/yggr").Output()
	if err != nil {
		return "", fmt.Errorf("bench: locating the yggr module (run from bench/, or pass -yggr-bin): %w", err)
	}
	bin := filepath.Join(dir, "yggr")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/yggr")
	cmd.Dir = strings.TrimSpace(string(src))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build ./cmd/yggr in %s: %w\n%s", cmd.Dir, err, out)
	}
	return bin, nil
}

// freeTCPPorts reserves n loopback TCP ports (released before use, so a
// small race is possible).
func freeTCPPorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// startServe starts three `yggr serve` processes of bin with their data
// and logs under root, waits until every one is ready, and connects the
// variant's client to the leader. On error every started process is
// stopped.
func startServe(ctx context.Context, name, bin, root string) (*serveSys, error) {
	if name != sysServe && name != sysServeHTTP {
		return nil, fmt.Errorf("bench: unknown serve variant %q", name)
	}
	if bin == "" {
		return nil, fmt.Errorf("bench: %s needs -yggr-bin", name)
	}
	httpAddrs, err := freeTCPPorts(3)
	if err != nil {
		return nil, err
	}
	raftAddrs, err := freeUDPPorts(3)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	rand.Read(secret) // never fails (crypto/rand panics instead)
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raftAddrs[i]))
	}
	s := &serveSys{name: name, bin: bin, ctl: &http.Client{Transport: tunedTransport()}}
	s.cached.reset()
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		s.nodes[i] = &serveNode{id: id, httpAddr: httpAddrs[i], kvURL: "http://" + httpAddrs[i] + "/v1/kv/",
			logPath: filepath.Join(root, id+".log"),
			args: []string{"serve", "--id", id, "--dir", filepath.Join(root, id), "--http-addr", httpAddrs[i],
				"--raft-addr", raftAddrs[i], "--peers", strings.Join(peers, ","), "--cluster-secret", hex.EncodeToString(secret),
				"--lease", "--log-level", "warn"}}
		if serveCPUProfile != "" {
			s.nodes[i].args = append(s.nodes[i].args, "--cpuprofile", serveCPUProfile+"."+id)
		}
	}
	fail := func(err error) (*serveSys, error) {
		return nil, errors.Join(err, s.Close())
	}
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
	switch name {
	case sysServe:
		eps := []string{s.nodes[l].httpAddr, s.nodes[(l+1)%3].httpAddr, s.nodes[(l+2)%3].httpAddr}
		if s.api, err = httpapi.NewClient(eps, httpapi.ClientOptions{}); err != nil {
			return fail(err)
		}
	case sysServeHTTP:
		s.raw = &http.Client{Transport: tunedTransport()}
	}
	return s, nil
}

// tunedTransport is a net/http transport for a closed loop of up to a few
// hundred workers against one host: every worker keeps its connection
// (the default transport keeps 2 idle connections per host and closes the
// others after each request).
func tunedTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1024, // ≥ the largest concurrency of any row (256)
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

func (n *serveNode) start(bin string) error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Experiments: YGGR_BENCH_SERVER_ENV="GOMAXPROCS=1 GOGC=200" adds
	// to the servers' environment (yggr serve and etcd alike).
	if v := os.Getenv("YGGR_BENCH_SERVER_ENV"); v != "" {
		cmd.Env = append(os.Environ(), strings.Fields(v)...)
	}
	// If the harness process dies first (a crash, or the orchestrator's
	// timeout killing it), the kernel kills the server too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: starting %s: %w", n.id, err)
	}
	done := make(chan struct{})
	n.cmd, n.done = cmd, done
	// Owned by the node; ends when the process exits (stop, Close or a
	// failure), which stop waits for.
	go func() {
		n.waitErr = cmd.Wait()
		logf.Close()
		close(done)
	}()
	return nil
}

// running reports whether the node's process is started and has not
// exited.
func (n *serveNode) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// exited returns an error naming the node and its log's tail if its
// process has exited, else nil.
func (n *serveNode) exited() error {
	if n.cmd == nil || n.running() {
		return nil
	}
	return fmt.Errorf("bench: server %s exited: %v%s", n.id, n.waitErr, n.logTail())
}

// logTail returns the end of the node's log, for error messages.
func (n *serveNode) logTail() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\n" + string(b[max(0, len(b)-2048):])
}

// stop asks the server to shut down (SIGTERM: it finishes the requests in
// flight and closes its database) and waits for its exit; after
// serveStopTimeout it kills it. Stopping a stopped node does nothing.
func (n *serveNode) stop() error {
	if n.cmd == nil {
		return nil
	}
	defer func() { n.cmd = nil }()
	if hwm, _, err := procMemOf(strconv.Itoa(n.cmd.Process.Pid)); err == nil {
		n.peakHWM = max(n.peakHWM, hwm)
	}
	n.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
	t := time.NewTimer(serveStopTimeout)
	defer t.Stop()
	select {
	case <-n.done:
	case <-t.C:
		n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("bench: server %s: no exit within %v of SIGTERM; killed%s", n.id, serveStopTimeout, n.logTail())
	}
	// etcd ends its SIGTERM handling by re-raising the signal: an exit by
	// the SIGTERM sent here is a clean stop too.
	var ee *exec.ExitError
	if errors.As(n.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	if n.waitErr != nil {
		return fmt.Errorf("bench: server %s: %w%s", n.id, n.waitErr, n.logTail())
	}
	return nil
}

// kill ends the server at once (SIGKILL: no shutdown, no flush beyond
// what it already synced) and waits for its exit. Killing a stopped node
// does nothing.
func (n *serveNode) kill() {
	if n.cmd == nil {
		return
	}
	if hwm, _, err := procMemOf(strconv.Itoa(n.cmd.Process.Pid)); err == nil {
		n.peakHWM = max(n.peakHWM, hwm)
	}
	n.cmd.Process.Kill() // fails only if it already exited
	<-n.done
	n.cmd = nil
}

// get sends GET path to node i with a serveCtlTimeout bound and decodes a
// 200 answer's JSON into out (nil: discard).
func (s *serveSys) get(ctx context.Context, i int, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, serveCtlTimeout)
	defer cancel()
	body, err := rawDo(ctx, s.ctl, http.MethodGet, "http://"+s.nodes[i].httpAddr+path, nil)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(body, out)
}

func (s *serveSys) status(ctx context.Context, i int) (yggr.Status, error) {
	var st yggr.Status
	err := s.get(ctx, i, "/v1/status", &st)
	return st, err
}

// waitReady polls /readyz of the given nodes until every one answers 200,
// for at most serveReadyTimeout; a node whose process exits fails it at
// once.
func (s *serveSys) waitReady(ctx context.Context, nodes ...int) error {
	ctx, cancel := context.WithTimeout(ctx, serveReadyTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		ready := 0
		for _, i := range nodes {
			if err := s.nodes[i].exited(); err != nil {
				return err
			}
			if last = s.get(ctx, i, "/readyz", nil); last == nil {
				ready++
			}
		}
		if ready == len(nodes) {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // poll, bounded by ctx
	}
	return fmt.Errorf("bench: %s: nodes %v not ready within %v: %w", s.name, nodes, serveReadyTimeout, last)
}

// leader returns the index of the node whose /v1/status says leader,
// waiting up to 10 s.
func (s *serveSys) leader(ctx context.Context) (int, error) {
	return findLeader(ctx, s.name, func(i int) bool {
		if !s.nodes[i].running() {
			return false
		}
		st, err := s.status(ctx, i)
		return err == nil && st.Role == yggr.RoleLeader
	})
}

// rawDo sends one request with hc and returns the body of a 200 answer;
// any other status is an error carrying the start of the body. The body
// is read to its end so that the connection can be reused.
func rawDo(ctx context.Context, hc *http.Client, method, url string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: %s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b[:min(len(b), 200)]))
	}
	return b, err
}

func (s *serveSys) alive(i int) bool { return s.nodes[i].running() }

func (s *serveSys) Put(ctx context.Context, key, value []byte) error {
	if s.api != nil {
		_, err := s.api.Put(ctx, key, value)
		return err
	}
	i, err := s.cached.index(ctx, s.alive, s.leader)
	if err != nil {
		return err
	}
	_, err = rawDo(ctx, s.raw, http.MethodPut, s.nodes[i].kvURL+string(key), value)
	return s.cached.forget(err)
}

func (s *serveSys) Read(ctx context.Context, mode string, key []byte) error {
	var c string // the consistency parameter; empty is the server's default, linearizable
	switch mode {
	case "linearizable":
	case "lease", "stale":
		c = mode
	default:
		return errUnsupported
	}
	if s.api != nil {
		cons, err := yggr.ParseConsistency(mode)
		if err != nil {
			return err
		}
		_, _, err = s.api.Get(ctx, key, yggr.WithConsistency(cons))
		return err
	}
	i, err := s.cached.index(ctx, s.alive, s.leader)
	if err != nil {
		return err
	}
	url := s.nodes[i].kvURL + string(key)
	if c != "" {
		url += "?consistency=" + c
	}
	_, err = rawDo(ctx, s.raw, http.MethodGet, url, nil)
	return s.cached.forget(err)
}

// StopFollower stops a follower's process (SIGTERM, graceful); the restart
// starts it again with the same arguments and measures until its
// /v1/status shows applied ≥ the leader's commit index at the restart.
// "Open" is the time until the restarted server first answers /v1/status
// (process start and yggr.Open: the server answers once Open returned).
func (s *serveSys) StopFollower(ctx context.Context) (func(context.Context) (time.Duration, time.Duration, error), error) {
	l, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	f := (l + 1) % 3
	if err := s.nodes[f].stop(); err != nil {
		return nil, err
	}
	s.cached.reset()
	return func(ctx context.Context) (total, open time.Duration, err error) {
		l, err := s.leader(ctx)
		if err != nil {
			return 0, 0, err
		}
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
			return st.Applied
		}
		d, err := waitApplied(ctx, s.name, t0, st.Commit, applied)
		return d, open, errors.Join(err, s.nodes[f].exited())
	}, nil
}

// Failover stops the leader's process (SIGTERM, graceful), then writes
// through a fixed other node (which forwards to the new leader) every 1 ms
// with a 250 ms timeout per attempt.
func (s *serveSys) Failover(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	other := s.nodes[(l+1)%3]
	// The load is over: drop the clients' idle connections, or the
	// leader's graceful shutdown waits up to 5 s for any of them that
	// never carried a request (net/http's Server.Shutdown closes a new
	// connection only once it is 5 s old), which is not failover.
	s.closeIdle()
	t0 := time.Now()
	if err := s.nodes[l].stop(); err != nil {
		return 0, err
	}
	s.failoverStop = time.Since(t0)
	s.cached.reset()
	return s.writeVia(ctx, other, t0)
}

// writeVia writes through node n (which forwards to the leader) every
// 1 ms with a 250 ms timeout per attempt until one succeeds, for at most
// 60 s, and returns the time since t0.
func (s *serveSys) writeVia(ctx context.Context, n *serveNode, t0 time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for i := int64(0); ctx.Err() == nil; i++ {
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, last = rawDo(pctx, s.ctl, http.MethodPut, n.kvURL+string(key16(3e12+i)), []byte("failover"))
		pcancel()
		if last == nil {
			return time.Since(t0), nil
		}
		time.Sleep(time.Millisecond) // back off, bounded by ctx
	}
	return time.Since(t0), fmt.Errorf("bench: %s: no write within 60s after failover: %w", s.name, last)
}

// FailoverKill kills the leader's process (SIGKILL), writes through
// another node until a write succeeds, then restarts the killed node and
// waits until every node is ready again.
func (s *serveSys) FailoverKill(ctx context.Context) (time.Duration, error) {
	l, err := s.leader(ctx)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	s.nodes[l].kill()
	s.cached.reset()
	d, err := s.writeVia(ctx, s.nodes[(l+1)%3], t0)
	if err != nil {
		return d, err
	}
	if err := s.nodes[l].start(s.bin); err != nil {
		return d, err
	}
	return d, s.waitReady(ctx, 0, 1, 2)
}

// FailoverNote says how much of the last failover the leader's exit took.
func (s *serveSys) FailoverNote() string {
	return fmt.Sprintf("the leader's process took %.0f ms from SIGTERM to exit; the writes start after it", ms(s.failoverStop))
}

// ServerCPU returns the CPU time used so far by the running server
// processes, summed.
func (s *serveSys) ServerCPU() time.Duration { return nodesCPU(s.nodes[:]) }

// NodeCPU returns the CPU time used so far by node i's running process.
func (s *serveSys) NodeCPU(i int) time.Duration { return nodeCPU(s.nodes[i]) }

// ServerMem returns the sum over the three nodes of their peak VmHWM (a
// node stopped or restarted counts the largest of its processes) and the
// sum of the running processes' VmRSS, in MiB.
func (s *serveSys) ServerMem() (hwm, rss float64) { return nodesMem(s.nodes[:]) }

// Close stops every server process (at once, each gracefully) and closes
// the clients' idle connections. It may be called more than once.
func (s *serveSys) Close() error {
	err := stopNodes(s.nodes[:])
	s.closeIdle()
	return err
}

// closeIdle closes the idle connections of the harness's clients.
func (s *serveSys) closeIdle() {
	if s.api != nil {
		s.api.Close()
	}
	for _, hc := range []*http.Client{s.ctl, s.raw} {
		if hc != nil {
			hc.CloseIdleConnections()
		}
	}
}
