package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
	"golang.org/x/net/netutil"
)

// serveCmd runs one node and its HTTP API.
type serveCmd struct {
	ID             string        `help:"This node's ID." default:"n1"`
	Dir            string        `help:"Data directory." default:"./yggr-data" type:"path"`
	RaftAddr       string        `name:"raft-addr" help:"Peer (Raft, QUIC) address to listen on." default:"127.0.0.1:7071"`
	HTTPAddr       string        `name:"http-addr" help:"HTTP API address to listen on." default:"127.0.0.1:7070"`
	Peers          []string      `help:"Every voter of a new cluster as id=host:port (this node included). Empty: a single-node database." placeholder:"ID=HOST:PORT,..."`
	Join           string        `help:"Join a running cluster through this member's HTTP address (adds this node as a learner, then promotes it once caught up)." placeholder:"HOST:PORT"`
	JoinCA         string        `name:"join-ca" help:"PEM file of the CA that signed the --join member's HTTPS certificate (implies https)." type:"existingfile" placeholder:"FILE"`
	TLSCert        string        `name:"tls-cert" help:"This node's peer certificate (PEM)." type:"existingfile" and:"tls"`
	TLSKey         string        `name:"tls-key" help:"This node's peer key (PEM)." type:"existingfile" and:"tls"`
	TLSCA          string        `name:"tls-ca" help:"The cluster CA certificate (PEM)." type:"existingfile" and:"tls"`
	ClusterSecret  string        `name:"cluster-secret" help:"Secret shared by all nodes, from which the peer CA is derived (instead of --tls-*)."`
	Insecure       bool          `help:"Do not authenticate peers. Development only."`
	HTTPTLSCert    string        `name:"http-tls-cert" help:"Serve the HTTP API over TLS with this certificate (PEM)." type:"existingfile" and:"httptls"`
	HTTPTLSKey     string        `name:"http-tls-key" help:"The HTTP API's TLS key (PEM)." type:"existingfile" and:"httptls"`
	Token          string        `help:"Require this bearer token on every HTTP request but /healthz and /readyz."`
	Lease          bool          `help:"Allow lease reads (consistency=lease): faster, assuming bounded clock drift."`
	LogFormat      string        `name:"log-format" help:"Log format: text or json." enum:"text,json" default:"text"`
	LogLevel       string        `name:"log-level" help:"Log level: debug, info, warn or error." enum:"debug,info,warn,error" default:"info"`
	JoinTimeout    time.Duration `name:"join-timeout" help:"How long --join may take to add and promote this node." default:"2m"`
	RequestTimeout time.Duration `name:"request-timeout" help:"Bound on every HTTP request, the reading of its body and a backup's streaming included." default:"10s"`
	IdleTimeout    time.Duration `name:"http-idle-timeout" help:"How long an idle keep-alive HTTP connection stays open." default:"2m"`
	MaxConns       int           `name:"http-max-conns" help:"Most HTTP connections served at once; more wait to be accepted." default:"1024"`
	MaxKeyBytes    int           `name:"max-key-bytes" help:"Largest key accepted (0: 4 KiB)." default:"0"`
	MaxValueBytes  int           `name:"max-value-bytes" help:"Largest value accepted (0: 1 MiB)." default:"0"`
	MaxBodyBytes   int64         `name:"max-body-bytes" help:"Largest request body accepted (0: 4 MiB)." default:"0"`
	DiskReserve    byteSize      `name:"disk-reserve" help:"Free space to keep on the data directory's file system: below it the node, as leader, refuses writes (HTTP 507). 0: 64MiB." default:"0"`
	MemoryLimit    byteSize      `name:"memory-limit" help:"Soft limit on the process's memory, as GOMEMLIMIT (e.g. 512MiB, 2GiB): the garbage collector works harder as the heap nears it. 0: GOMEMLIMIT's value, or none." default:"0"`
	WatchHistory   uint64        `name:"watch-history" help:"Revisions of history a watch can start from, kept below the newest snapshot on disk (0: back to the older of the two newest snapshots)." default:"0"`
	SnapWriteRate  byteSize      `name:"snapshot-write-rate" help:"Cap on the rate, per second, at which this node writes its own snapshots, so that they leave the disk to the log's fsyncs (0: no cap). Snapshots received to catch up are not capped." default:"40MiB"`
	MaxWatchers    int           `name:"max-watchers" help:"Most watch streams served at once; more get 503 busy (0: 1000)." default:"0"`
	CPUProfile     string        `name:"cpuprofile" hidden:"" help:"Write a CPU profile of the whole run (until shutdown) to this file (profiling the server under load)." type:"path" placeholder:"FILE"`
}

// Help is the detailed help with examples.
func (c *serveCmd) Help() string {
	return `With no --peers and no --join it is a single-node database with no peer
listener. A new cluster lists every voter in --peers on every node, and secures
peer traffic with --cluster-secret, --tls-ca/--tls-cert/--tls-key, or (for
development) --insecure. SIGINT or SIGTERM stops accepting requests, finishes
the ones in flight, and closes the database.

Examples:
  yggr serve
  yggr serve --id n1 --dir data/n1 --http-addr 127.0.0.1:7070 --raft-addr 127.0.0.1:7071 \
    --peers n1=127.0.0.1:7071,n2=127.0.0.1:7081,n3=127.0.0.1:7091 --cluster-secret "$SECRET"
  yggr serve --id n4 --dir data/n4 --http-addr 127.0.0.1:7100 --raft-addr 127.0.0.1:7101 \
    --join 127.0.0.1:7070 --cluster-secret "$SECRET"`
}

// minClusterSecretBytes is the shortest --cluster-secret the peer
// transport accepts.
const minClusterSecretBytes = 8

// shutdownTimeout bounds how long in-flight requests may take to finish.
const shutdownTimeout = 10 * time.Second

// handOffTimeout bounds how long a leader that is asked to stop tries to
// hand its leadership to another voter first.
const handOffTimeout = 3 * time.Second

// handOff hands the leadership of a leader that is asked to stop to an
// up-to-date voter (DB.HandOff), as etcd's server does, so that the
// cluster does not wait an election timeout to notice that its leader
// left: in the bench's failover row (SIGTERM to the leader, then writes
// through another node until one succeeds), 766 ms before, against etcd's
// 112 ms. The HTTP server still runs meanwhile: what arrives is forwarded
// to the new leader once there is one. A failed hand-off is logged and the
// node stops anyway.
func handOff(db *yggr.DB, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), handOffTimeout)
	defer cancel()
	to, err := db.HandOff(ctx)
	switch {
	case err != nil:
		logger.Warn("could not hand leadership to another voter before stopping", "node", db.ID(), "err", err)
	case to != "":
		logger.Info("handed leadership to another voter before stopping", "node", db.ID(), "leader", to)
	}
}

// Run serves until SIGINT or SIGTERM.
func (c *serveCmd) Run(e *env) error {
	logger, err := newLogger(e, c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	opts, peers, err := c.options(logger)
	if err != nil {
		return err
	}
	memLimit, err := applyMemoryLimit(c.MemoryLimit)
	if err != nil {
		return err
	}
	if memLimit != math.MaxInt64 {
		logger.Info("memory limit", "bytes", memLimit)
	}
	httpTLS, err := c.httpTLS()
	if err != nil {
		return err
	}
	var joinTLS *tls.Config
	if c.JoinCA != "" {
		if joinTLS, err = caTLSConfig("--join-ca", c.JoinCA); err != nil {
			return err
		}
	}
	if c.MaxConns < 1 || c.IdleTimeout < 0 {
		return usagef("--http-max-conns must be ≥ 1 and --http-idle-timeout ≥ 0")
	}
	if c.CPUProfile != "" {
		stop, err := startCPUProfile(c.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Listen first, so a taken port fails before the database opens.
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("serve: http listener: %w", err)
	}
	// Beyond --http-max-conns, connections wait in the accept queue: a
	// flood of slow clients cannot take every file descriptor.
	ln = netutil.LimitListener(ln, c.MaxConns)
	if httpTLS == nil {
		// Requests net/http refuses unparsed (bad percent-encoding in a
		// key's path) get a JSON error too.
		ln = httpapi.JSONErrorListener(ln)
	}
	db, err := yggr.Open(c.Dir, peers, opts...)
	if err != nil {
		ln.Close()
		return err
	}
	streamsDone := make(chan struct{}) // closed by srv.Shutdown: ends the watch streams
	handler := httpapi.NewHandler(db, httpapi.Options{Token: c.Token, Logger: logger, RequestTimeout: c.RequestTimeout,
		Limits: c.limits(), MaxBodyBytes: c.MaxBodyBytes,
		MaxWatchers: c.MaxWatchers, Shutdown: streamsDone})
	// The handler bounds each request body by --request-timeout (a body
	// shorter than its Content-Length no longer holds the connection); the
	// server bounds the header and idle keep-alive connections.
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: c.IdleTimeout, TLSConfig: httpTLS,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(func() { close(streamsDone) })
	serveErr := make(chan error, 1)
	// Owned by Run; ends when srv.Shutdown closes the listener (Run waits
	// for it below).
	go func() {
		if httpTLS != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	logger.Info("serving", "node", db.ID(), "http", ln.Addr().String(), "raft", c.raftAddrIfAny(peers), "dir", c.Dir)

	// The join runs beside the server so that this node's own status is
	// reachable while it catches up.
	joinCtx, cancelJoin := context.WithCancel(e.ctx)
	defer cancelJoin()
	var joinErr chan error
	if c.Join != "" {
		joinErr = make(chan error, 1)
		// Owned by Run; ends when the join finishes or joinCtx ends (at
		// the latest after --join-timeout). Run waits for it before closing
		// the database.
		go func() { joinErr <- c.join(joinCtx, db, logger, joinTLS) }()
	}
	pendingJoin := joinErr

	var runErr error
	serving := true
	// Bounded: each case either stops the loop or disables itself.
	for stop := false; !stop; {
		select {
		case <-e.ctx.Done():
			logger.Info("shutting down", "node", db.ID())
			stop = true
		case err := <-serveErr:
			serving = false
			runErr = fmt.Errorf("serve: http: %w", err)
			stop = true
		case err := <-pendingJoin:
			pendingJoin, joinErr = nil, nil
			if err != nil {
				runErr = err
				stop = true
			}
		}
	}
	cancelJoin()
	if joinErr != nil {
		<-joinErr
	}
	if runErr == nil {
		handOff(db, logger)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("in-flight requests did not finish in time", "err", err)
		srv.Close()
	}
	if serving {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) && runErr == nil {
			runErr = fmt.Errorf("serve: http: %w", err)
		}
	}
	if err := db.Close(); err != nil && runErr == nil {
		runErr = err
	}
	logger.Info("stopped", "node", db.ID())
	return runErr
}

func (c *serveCmd) raftAddrIfAny(peers []string) string {
	if len(peers) == 0 {
		return "(none: single node)"
	}
	return c.RaftAddr
}

// options turns the flags into Open's peers and options.
func (c *serveCmd) options(logger *slog.Logger) ([]yggr.Option, []string, error) {
	opts := []yggr.Option{yggr.WithID(c.ID), yggr.WithLogger(logger)}
	if c.MaxKeyBytes < 0 || c.MaxValueBytes < 0 || c.MaxBodyBytes < 0 {
		return nil, nil, usagef("--max-*-bytes must be ≥ 0")
	}
	if c.MaxWatchers < 0 {
		return nil, nil, usagef("--max-watchers must be ≥ 0")
	}
	if c.MaxKeyBytes > 0 || c.MaxValueBytes > 0 {
		// The database enforces its own limits too; raise them with the
		// HTTP ones.
		opts = append(opts, yggr.WithLimits(c.limits()))
	}
	if c.Lease {
		opts = append(opts, yggr.WithLeaseReads())
	}
	if c.DiskReserve > 0 {
		opts = append(opts, yggr.WithDiskReserve(int64(c.DiskReserve)))
	}
	if c.WatchHistory > 0 {
		opts = append(opts, yggr.WithWatchHistory(c.WatchHistory))
	}
	opts = append(opts, yggr.WithSnapshotWriteRate(int64(c.SnapWriteRate)))
	var peers []string
	for _, p := range c.Peers {
		if p = strings.TrimSpace(p); p != "" {
			peers = append(peers, p)
		}
	}
	switch {
	case c.JoinCA != "" && c.Join == "":
		return nil, nil, usagef("--join-ca needs --join")
	case c.Join != "" && len(peers) > 0:
		return nil, nil, usagef("--join and --peers exclude each other: a joining node learns the members from the cluster")
	case c.Join != "":
		peers = []string{c.ID + "=" + c.RaftAddr}
		opts = append(opts, yggr.WithJoin())
	}
	secured := 0
	if c.TLSCert != "" {
		secured++
		ca, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, nil, err
		}
		cert, err := os.ReadFile(c.TLSCert)
		if err != nil {
			return nil, nil, err
		}
		key, err := os.ReadFile(c.TLSKey)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := yggr.PeerTLSConfig(ca, cert, key)
		if err != nil {
			return nil, nil, usagef("--tls-ca/--tls-cert/--tls-key: %v", err)
		}
		opts = append(opts, yggr.WithTLS(cfg))
	}
	if c.ClusterSecret != "" {
		secured++
		opts = append(opts, yggr.WithClusterSecret(c.ClusterSecret))
	}
	if c.Insecure {
		secured++
		opts = append(opts, yggr.WithInsecure())
	}
	if secured > 1 {
		return nil, nil, usagef("choose one of --tls-*, --cluster-secret and --insecure")
	}
	if c.ClusterSecret != "" && len(c.ClusterSecret) < minClusterSecretBytes {
		return nil, nil, usagef("--cluster-secret is shorter than %d bytes: use a long random secret (e.g. openssl rand -hex 32)", minClusterSecretBytes)
	}
	if len(peers) > 0 && secured == 0 {
		return nil, nil, usagef("a cluster needs --cluster-secret, --tls-ca/--tls-cert/--tls-key or (for development) --insecure to secure peer traffic")
	}
	if len(peers) > 0 {
		if err := c.checkRaftAddr(peers); err != nil {
			return nil, nil, err
		}
		// WithListenAddr lets --raft-addr differ from this node's entry in
		// --peers when it listens on every interface (0.0.0.0:7071 behind
		// the advertised address).
		opts = append(opts, yggr.WithListenAddr(c.RaftAddr))
	}
	return opts, peers, nil
}

// checkRaftAddr refuses a --raft-addr that differs from this node's own
// entry in --peers: the other nodes would dial the entry while this one
// listens elsewhere, and the cluster would wait for it forever. Listening
// on every interface (0.0.0.0 or [::]) on the entry's port is allowed.
func (c *serveCmd) checkRaftAddr(peers []string) error {
	for _, p := range peers {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id != c.ID || addr == c.RaftAddr {
			continue
		}
		host, port, err := net.SplitHostPort(c.RaftAddr)
		_, wantPort, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err == nil && (host == "" || ip != nil && ip.IsUnspecified()) && port == wantPort {
			return nil
		}
		return usagef("--raft-addr %s differs from %s's entry in --peers (%s), where the other nodes will reach it: set --raft-addr %s (or listen on every interface with 0.0.0.0:%s)",
			c.RaftAddr, c.ID, addr, addr, wantPort)
	}
	return nil
}

// httpTLS loads the HTTP listener's certificate, if any.
func (c *serveCmd) httpTLS() (*tls.Config, error) {
	if c.HTTPTLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.HTTPTLSCert, c.HTTPTLSKey)
	if err != nil {
		return nil, usagef("--http-tls-cert/--http-tls-key: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// join adds this node to the cluster through the member at --join: as a
// learner first, then, once it has applied everything the cluster had
// committed when it was added, as a voter. A node that is already a
// member (a restart) skips the steps already done. joinTLS, if not nil,
// is the TLS configuration for an https --join endpoint (from --join-ca).
func (c *serveCmd) join(ctx context.Context, db *yggr.DB, logger *slog.Logger, joinTLS *tls.Config) (err error) {
	// A node whose own log makes it a voter has joined before: it
	// restarts from its data directory and needs the --join member no
	// more (which may be down).
	for _, m := range db.Status().Members {
		if m.ID == c.ID && m.Voter {
			logger.Info("already a voter (from the data directory): --join is not needed", "node", c.ID)
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.JoinTimeout)
	defer cancel()
	ep := c.Join
	if !strings.Contains(ep, "://") {
		ep = "http://" + ep
		if c.JoinCA != "" {
			ep = "https://" + c.Join
		}
	}
	cl, err := httpapi.NewClient([]string{ep}, httpapi.ClientOptions{Token: c.Token, Timeout: 5 * time.Second, TLS: joinTLS})
	if err != nil {
		return err
	}
	defer cl.Close()
	// Every wait below polls with a bounded interval until ctx's deadline.
	var member, voter bool
	if err := retry(ctx, func() error {
		var err error
		member, voter, err = c.membership(ctx, cl)
		return err
	}); err != nil {
		return fmt.Errorf("serve: join: %w", err)
	}
	if !member {
		logger.Info("joining as a learner", "node", c.ID, "via", c.Join)
		// A retried add whose first attempt was applied finds the node a
		// member already.
		if err := retry(ctx, func() error {
			if member, _, err := c.membership(ctx, cl); err != nil || member {
				return err
			}
			return cl.AddLearner(ctx, c.ID, c.RaftAddr)
		}); err != nil {
			return fmt.Errorf("serve: join: add learner: %w", err)
		}
		// A join that does not complete must not leave a learner behind.
		defer func() {
			if err != nil {
				c.removeSelf(cl, logger, err)
			}
		}()
	}
	if voter {
		logger.Info("already a voter", "node", c.ID)
		return nil
	}
	var target uint64
	if err := retry(ctx, func() error {
		st, err := cl.Status(ctx)
		target = st.Commit
		return err
	}); err != nil {
		return fmt.Errorf("serve: join: %w", err)
	}
	logger.Info("catching up", "node", c.ID, "index", target)
	if err := poll(ctx, func() bool { return db.Status().Applied >= target }); err != nil {
		return fmt.Errorf("serve: join: catching up to index %d: %w", target, err)
	}
	if err := retry(ctx, func() error {
		if _, voter, err := c.membership(ctx, cl); err != nil || voter {
			return err
		}
		return cl.Promote(ctx, c.ID)
	}); err != nil {
		return fmt.Errorf("serve: join: promote: %w", err)
	}
	logger.Info("joined as a voter", "node", c.ID)
	return nil
}

// removeSelf takes back the learner a failed join added (the cluster would
// otherwise keep a member that never catches up), saying so in the log.
func (c *serveCmd) removeSelf(cl *httpapi.Client, logger *slog.Logger, why error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := retry(ctx, func() error {
		member, _, err := c.membership(ctx, cl)
		if err != nil || !member {
			return err
		}
		return cl.RemoveMember(ctx, c.ID)
	}); err != nil {
		logger.Error("join failed and this node's learner could not be removed: remove it with `yggr members remove`",
			"node", c.ID, "join_err", why, "err", err)
		return
	}
	logger.Warn("join failed: removed this node's learner from the cluster", "node", c.ID, "join_err", why)
}

// membership reports whether this node is already a member, and a voter.
func (c *serveCmd) membership(ctx context.Context, cl *httpapi.Client) (member, voter bool, err error) {
	ms, err := cl.Members(ctx)
	if err != nil {
		return false, false, err
	}
	for _, m := range ms {
		if m.ID == c.ID {
			return true, m.Voter, nil
		}
	}
	return false, false, nil
}

// retry calls f until it succeeds with a short pause between attempts,
// giving up when ctx ends or f fails with an error that waiting cannot
// fix (retryAfter). Giving up at ctx's end, it reports the last failure
// that ctx did not cause (why the attempts failed) along with ctx's error.
func retry(ctx context.Context, f func() error) error {
	var last error
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil && !retryAfter(err) {
			return err
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if errors.Is(last, ctx.Err()) {
				return last
			}
			return fmt.Errorf("%w (gave up: %w)", last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// retryAfter reports whether a join step (or a rebuild's removal) that
// failed with err may succeed if tried again a little later. Leader
// changes are not among them: the node that answered no_leader or
// not_leader has already followed the leader for its whole request
// budget (internal/node/route.go), and asking it again would stack a
// second retry loop on that one. What is left:
//   - the endpoint does not answer at all (it is starting), unless its
//     certificate does not verify;
//   - the change was refused for now: another membership change is
//     pending, or the leader does not yet see the learner caught up;
//   - the answer was lost (timeout, unknown outcome) or the write was
//     dropped, busy, or the node was closing: each attempt reads the
//     members first, so a change that was applied is not asked again.
func retryAfter(err error) bool {
	var badCert *tls.CertificateVerificationError
	if errors.As(err, &badCert) {
		return false
	}
	for _, target := range []error{httpapi.ErrUnavailable, yggr.ErrMembership, yggr.ErrTimeout,
		yggr.ErrUnknownOutcome, yggr.ErrDropped, yggr.ErrBusy, yggr.ErrClosed} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// poll waits until cond holds, checking every 50ms, or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// newLogger builds the slog logger for --log-format and --log-level.
func newLogger(e *env, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, hopts)), nil
	}
	return slog.New(slog.NewTextHandler(e.stderr, hopts)), nil
}

// limits are the size limits the flags ask for, for the database and the
// HTTP layer alike (zero fields take the defaults).
func (c *serveCmd) limits() yggr.Limits {
	return yggr.Limits{MaxKeyBytes: c.MaxKeyBytes, MaxValueBytes: c.MaxValueBytes}
}

// startCPUProfile starts writing a CPU profile to path (--cpuprofile) and
// returns the function that ends it.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("serve: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("serve: --cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
