package httpapi

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/yggrdb/yggr"
)

// dbCollector exports db.Metrics() in Prometheus form, read at scrape time
// (no state of its own, so it never drifts from the database).
type dbCollector struct {
	db       *yggr.DB
	counters []counterDesc
	gauges   []gaugeDesc
	hists    []histDesc
	role     *prometheus.Desc
	match    *prometheus.Desc
	next     *prometheus.Desc
	wire     *prometheus.Desc
}

type counterDesc struct {
	desc *prometheus.Desc
	get  func(*yggr.Metrics) uint64
}

type gaugeDesc struct {
	desc *prometheus.Desc
	get  func(*yggr.Metrics) float64
}

type histDesc struct {
	desc *prometheus.Desc
	get  func(*yggr.Metrics) yggr.Histogram
}

func newDBCollector(db *yggr.DB) *dbCollector {
	c := &dbCollector{db: db}
	counter := func(name, help string, get func(*yggr.Metrics) uint64) {
		c.counters = append(c.counters, counterDesc{prometheus.NewDesc("yggr_"+name+"_total", help, nil, nil), get})
	}
	counter("elections_started", "Elections this node started.", func(m *yggr.Metrics) uint64 { return m.ElectionsStarted })
	counter("elections_won", "Elections this node won.", func(m *yggr.Metrics) uint64 { return m.ElectionsWon })
	counter("prevotes_started", "Pre-vote rounds this node started.", func(m *yggr.Metrics) uint64 { return m.PreVotesStarted })
	counter("prevotes_granted", "Pre-votes this node granted.", func(m *yggr.Metrics) uint64 { return m.PreVotesGranted })
	counter("prevotes_denied", "Pre-votes this node denied.", func(m *yggr.Metrics) uint64 { return m.PreVotesDenied })
	counter("votes_granted", "Votes this node granted.", func(m *yggr.Metrics) uint64 { return m.VotesGranted })
	counter("votes_denied", "Votes this node denied.", func(m *yggr.Metrics) uint64 { return m.VotesDenied })
	counter("appends_sent", "AppendEntries messages sent.", func(m *yggr.Metrics) uint64 { return m.AppendsSent })
	counter("appends_received", "AppendEntries messages received.", func(m *yggr.Metrics) uint64 { return m.AppendsReceived })
	counter("appends_rejected", "AppendEntries messages this node rejected.", func(m *yggr.Metrics) uint64 { return m.AppendsRejected })
	counter("entries_appended", "Log entries appended.", func(m *yggr.Metrics) uint64 { return m.EntriesAppended })
	counter("entries_committed", "Log entries committed.", func(m *yggr.Metrics) uint64 { return m.EntriesCommitted })
	counter("entries_applied", "Log entries applied to the state machine.", func(m *yggr.Metrics) uint64 { return m.EntriesApplied })
	counter("snapshots_sent", "Snapshots sent to followers.", func(m *yggr.Metrics) uint64 { return m.SnapshotsSent })
	counter("snapshots_installed", "Snapshots installed from a leader.", func(m *yggr.Metrics) uint64 { return m.SnapshotsInstalled })
	counter("reads_started", "Linearizable and lease reads started.", func(m *yggr.Metrics) uint64 { return m.ReadsStarted })
	counter("reads_completed", "Linearizable and lease reads completed.", func(m *yggr.Metrics) uint64 { return m.ReadsCompleted })
	counter("reads_failed", "Linearizable and lease reads failed.", func(m *yggr.Metrics) uint64 { return m.ReadsFailed })
	counter("proposals_rejected", "Proposals the engine rejected.", func(m *yggr.Metrics) uint64 { return m.ProposalsRejected })
	counter("transfers_started", "Leadership transfers started.", func(m *yggr.Metrics) uint64 { return m.TransfersStarted })
	counter("forwarded", "Requests forwarded to the leader.", func(m *yggr.Metrics) uint64 { return m.Forwarded })
	counter("entries_filled", "Entries read back from the log for followers behind the in-memory entries.", func(m *yggr.Metrics) uint64 { return m.EntriesFilled })

	gauge := func(name, help string, get func(*yggr.Metrics) float64) {
		c.gauges = append(c.gauges, gaugeDesc{prometheus.NewDesc("yggr_"+name, help, nil, nil), get})
	}
	gauge("term", "Current term.", func(m *yggr.Metrics) float64 { return float64(m.Term) })
	gauge("commit_index", "Commit index.", func(m *yggr.Metrics) float64 { return float64(m.Commit) })
	gauge("applied_index", "Applied index.", func(m *yggr.Metrics) float64 { return float64(m.Applied) })
	gauge("last_index", "Index of the last log entry.", func(m *yggr.Metrics) float64 { return float64(m.LastIndex) })
	counter("peer_handshake_failures", "Peer TLS handshakes refused, in both directions (wrong cluster credentials, wire version, unknown peer).", func(m *yggr.Metrics) uint64 { return m.PeerHandshakeFailures })
	counter("peer_bad_frames", "Undecodable frames received from peers.", func(m *yggr.Metrics) uint64 { return m.PeerBadFrames })
	gauge("disk_free_bytes", "Free space of the data directory's file system, as last read (0 if unknown).", func(m *yggr.Metrics) float64 { return float64(m.DiskFreeBytes) })
	gauge("disk_reserve_bytes", "Free space below which this node refuses writes as leader (0: no check).", func(m *yggr.Metrics) float64 { return float64(m.DiskReserveBytes) })
	gauge("snapshot_index", "Index of the latest snapshot.", func(m *yggr.Metrics) float64 { return float64(m.SnapshotIndex) })
	gauge("log_entries", "Entries in the log.", func(m *yggr.Metrics) float64 { return float64(m.LogEntries) })
	gauge("is_leader", "1 if this node is the leader.", func(m *yggr.Metrics) float64 {
		if m.IsLeader {
			return 1
		}
		return 0
	})
	gauge("apply_lag", "Committed entries waiting to be applied.", func(m *yggr.Metrics) float64 { return float64(m.ApplyLag) })

	hist := func(name, help string, get func(*yggr.Metrics) yggr.Histogram) {
		c.hists = append(c.hists, histDesc{prometheus.NewDesc("yggr_"+name, help, nil, nil), get})
	}
	hist("propose_seconds", "Latency of proposals, from submission to apply.", func(m *yggr.Metrics) yggr.Histogram { return m.ProposeSeconds })
	hist("propose_queue_seconds", "Stage of propose_seconds: waiting for the driver to append the write.", func(m *yggr.Metrics) yggr.Histogram { return m.ProposeQueueSeconds })
	hist("propose_commit_seconds", "Stage of propose_seconds: replication until committed (leader sync, majority acknowledgements).", func(m *yggr.Metrics) yggr.Histogram { return m.ProposeCommitSeconds })
	hist("propose_apply_seconds", "Stage of propose_seconds: waiting for the apply goroutine.", func(m *yggr.Metrics) yggr.Histogram { return m.ProposeApplySeconds })
	hist("propose_reply_seconds", "Stage of propose_seconds: applying the batch and waking the caller.", func(m *yggr.Metrics) yggr.Histogram { return m.ProposeReplySeconds })
	hist("read_seconds", "Latency of linearizable and lease reads.", func(m *yggr.Metrics) yggr.Histogram { return m.ReadSeconds })
	hist("fsync_seconds", "Latency of log syncs.", func(m *yggr.Metrics) yggr.Histogram { return m.FsyncSeconds })
	hist("apply_seconds", "Latency of applying a batch of entries.", func(m *yggr.Metrics) yggr.Histogram { return m.ApplySeconds })
	hist("snapshot_seconds", "Duration of snapshots.", func(m *yggr.Metrics) yggr.Histogram { return m.SnapshotSeconds })
	hist("batch_size", "Entries per proposal batch.", func(m *yggr.Metrics) yggr.Histogram { return m.BatchSize })

	c.role = prometheus.NewDesc("yggr_role", "1 for this node's current role.", []string{"role"}, nil)
	c.match = prometheus.NewDesc("yggr_follower_match_index", "Leader's view: highest index known replicated on the follower.", []string{"peer"}, nil)
	c.next = prometheus.NewDesc("yggr_follower_next_index", "Leader's view: next index to send to the follower.", []string{"peer"}, nil)
	c.wire = prometheus.NewDesc("yggr_peer_wire_version", "Wire version negotiated with each connected peer (1: a node of the release before wire version 2).", []string{"peer"}, nil)
	return c
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d.desc
	}
	for _, d := range c.gauges {
		ch <- d.desc
	}
	for _, d := range c.hists {
		ch <- d.desc
	}
	ch <- c.role
	ch <- c.match
	ch <- c.next
	ch <- c.wire
}

// Collect implements prometheus.Collector: one db.Metrics() per scrape.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.Metrics()
	for _, d := range c.counters {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(&m)))
	}
	for _, d := range c.gauges {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, d.get(&m))
	}
	for _, d := range c.hists {
		count, sum, buckets := promBuckets(d.get(&m))
		if h, err := prometheus.NewConstHistogram(d.desc, count, sum, buckets); err == nil {
			ch <- h
		} else {
			ch <- prometheus.NewInvalidMetric(d.desc, err)
		}
	}
	if m.Role != "" {
		ch <- prometheus.MustNewConstMetric(c.role, prometheus.GaugeValue, 1, m.Role.String())
	}
	for _, f := range m.Followers {
		ch <- prometheus.MustNewConstMetric(c.match, prometheus.GaugeValue, float64(f.Match), f.ID)
		ch <- prometheus.MustNewConstMetric(c.next, prometheus.GaugeValue, float64(f.Next), f.ID)
	}
	for id, v := range m.PeerWireVersions {
		ch <- prometheus.MustNewConstMetric(c.wire, prometheus.GaugeValue, float64(v), id)
	}
}

// promBuckets converts per-bucket counts into Prometheus's cumulative
// buckets (the +Inf bucket is implied by the count).
func promBuckets(h yggr.Histogram) (uint64, float64, map[float64]uint64) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var acc uint64
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			acc += h.Counts[i]
		}
		if !math.IsInf(b, 1) && !math.IsNaN(b) {
			buckets[b] = acc
		}
	}
	count := max(h.Count, acc)
	return count, h.Sum, buckets
}

// httpMetrics counts and times requests by route and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// batchOps counts the operations of POST /v1/batch by op and status:
	// the batch's own answer is a 200 whatever became of them.
	batchOps *prometheus.CounterVec
	// kvOK caches the series of the single-key routes' 200 answers, by
	// kvRouteIndex, once first used: the hot path skips WithLabelValues
	// (hashing the labels, a map lookup under a lock, the code's string).
	kvOK [3]atomic.Pointer[routeSeries]
}

// routeSeries is the request counter and latency histogram of one route
// and status.
type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// kvRouteIndex returns the index in httpMetrics.kvOK of a single-key
// route's name, or -1.
func kvRouteIndex(route string) int {
	switch route {
	case kvRouteGet:
		return 0
	case kvRoutePut:
		return 1
	case kvRouteDelete:
		return 2
	}
	return -1
}

func registerHTTPMetrics(reg *prometheus.Registry, logger *slog.Logger) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yggr_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "yggr_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
	}
	m.batchOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "yggr_http_batch_ops_total", Help: "Operations of POST /v1/batch by op and the status each would have had alone.",
	}, []string{"op", "code"})
	m.requests = register(reg, m.requests, logger)
	m.latency = register(reg, m.latency, logger)
	m.batchOps = register(reg, m.batchOps, logger)
	return m
}

// register registers c, or returns the collector already registered under
// its name.
func register[C prometheus.Collector](reg *prometheus.Registry, c C, logger *slog.Logger) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		logger.Error("httpapi: registering HTTP metrics", "err", err)
	}
	return c
}

func (m *httpMetrics) observe(route string, code int, d time.Duration) {
	if i := kvRouteIndex(route); i >= 0 && code == http.StatusOK {
		s := m.kvOK[i].Load()
		if s == nil { // two first requests at once store the same series
			s = &routeSeries{requests: m.requests.WithLabelValues(route, "200"), latency: m.latency.WithLabelValues(route)}
			m.kvOK[i].Store(s)
		}
		s.requests.Inc()
		s.latency.Observe(d.Seconds())
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
