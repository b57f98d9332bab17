package netquic

import (
	"bufio"
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// smallApp is a typical small AppendEntries: one 100-byte entry.
func smallApp(i uint64) engine.Message {
	return engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 3, PrevIndex: i, PrevTerm: 3, Commit: i,
		Entries: []engine.Entry{{Term: 3, Index: i + 1, Data: make([]byte, 100)}}}
}

// BenchmarkQUICThroughput measures one-way small messages per second over
// QUIC loopback, with at most window messages outstanding so that the
// drop-oldest queue never drops.
func BenchmarkQUICThroughput(b *testing.B) {
	ts := startCluster(b, testCreds(b), "n1", "n2")
	const window = 512 // below the default QueueLen
	var received atomic.Int64
	done := make(chan struct{})
	go func() { // drains n2; ends when b.N messages arrived or n2 closes
		defer close(done)
		for range ts["n2"].Inbound() {
			if received.Add(1) == int64(b.N) {
				return
			}
		}
	}()
	// Warm the connection up.
	ts["n1"].Send(smallApp(0))
	for received.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	received.Store(0)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for int64(i)-received.Load() >= window {
			time.Sleep(50 * time.Microsecond) // back-pressure in the benchmark driver only
		}
		ts["n1"].Send(smallApp(uint64(i)))
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d; n1 metrics %+v", received.Load(), b.N, ts["n1"].Metrics())
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if d := ts["n1"].Metrics().Peers["n2"].Drops; d != 0 {
		b.Errorf("%d drops", d)
	}
}

// BenchmarkQUICRoundTrip measures heartbeat -> heartbeat response latency
// over QUIC loopback.
func BenchmarkQUICRoundTrip(b *testing.B) {
	ts := startCluster(b, testCreds(b), "n1", "n2")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // echoes heartbeats; ends when n2 closes
		defer wg.Done()
		for m := range ts["n2"].Inbound() {
			ts["n2"].Send(engine.Message{Type: engine.MsgHeartbeatResp, From: "n2", To: "n1", Term: m.Term, Context: m.Context})
		}
	}()
	defer func() { ts["n2"].Close(); wg.Wait() }()
	rtt := func(i uint64) {
		ts["n1"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3, Commit: 10, Context: i})
		<-ts["n1"].Inbound()
	}
	rtt(0)
	b.ResetTimer()
	for i := range b.N {
		rtt(uint64(i))
	}
}

// BenchmarkQUICCall measures a forwarded-call round trip (a new stream per
// call).
func BenchmarkQUICCall(b *testing.B) {
	ts := startCluster(b, testCreds(b), "n1", "n2")
	ts["n2"].SetCallHandler(func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error) { return req, nil })
	req := make([]byte, 64)
	if _, err := ts["n1"].Call(context.Background(), "n2", req); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := ts["n1"].Call(context.Background(), "n2", req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPRoundTrip is the baseline: the same heartbeat frames echoed
// over a plain TCP loopback connection, no TLS.
func BenchmarkTCPRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // echo server; ends when the client closes its connection
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			k, body, err := readFrame(r, Version, DefaultMaxFrameBytes)
			if err != nil {
				return
			}
			m, err := decodeMessageBody(Version, k, body)
			if err != nil {
				return
			}
			resp := engine.Message{Type: engine.MsgHeartbeatResp, From: "n2", To: "n1", Term: m.Term, Context: m.Context}
			f, _ := AppendMessage(nil, &resp, 0)
			if _, err := c.Write(f); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReader(c)
	rtt := func(i uint64) {
		m := engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3, Commit: 10, Context: i}
		f, _ := AppendMessage(nil, &m, 0)
		if _, err := c.Write(f); err != nil {
			b.Fatal(err)
		}
		k, body, err := readFrame(r, Version, DefaultMaxFrameBytes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeMessageBody(Version, k, body); err != nil {
			b.Fatal(err)
		}
	}
	rtt(0)
	b.ResetTimer()
	for i := range b.N {
		rtt(uint64(i))
	}
	b.StopTimer()
	c.Close()
	wg.Wait()
}

// BenchmarkHeartbeatDuringSnapshot streams a 64 MiB snapshot in 1 MiB
// MsgSnap chunks from n1 to n3 while timing heartbeat round trips n1<->n2.
// Run with -benchtime=1x.
func BenchmarkHeartbeatDuringSnapshot(b *testing.B) {
	const chunk, total = 1 << 20, 64 << 20
	for range b.N {
		ts := startCluster(b, testCreds(b), "n1", "n2", "n3")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // n2 echoes heartbeats; ends when n2 closes
			defer wg.Done()
			for m := range ts["n2"].Inbound() {
				ts["n2"].Send(engine.Message{Type: engine.MsgHeartbeatResp, From: "n2", To: "n1", Term: m.Term, Context: m.Context})
			}
		}()
		var snapBytes atomic.Int64
		snapDone := make(chan struct{})
		go func() { // n3 receives chunks and acknowledges them; ends when n3 closes
			defer wg.Done()
			for m := range ts["n3"].Inbound() {
				if snapBytes.Add(int64(len(m.Data))) == total {
					close(snapDone)
				}
				ts["n3"].Send(engine.Message{Type: engine.MsgSnapResp, From: "n3", To: "n1", Term: 1, Index: m.Offset + uint64(len(m.Data))})
			}
		}()
		data := make([]byte, chunk)
		snap := engine.SnapshotMeta{Index: 1000, Term: 1, Membership: engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, nil), Size: total}
		// Warm both connections up.
		ts["n1"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
		<-ts["n1"].Inbound()
		ts["n1"].Send(engine.Message{Type: engine.MsgSnap, From: "n1", To: "n3", Term: 1, Snapshot: snap})
		<-ts["n1"].Inbound()

		// Baseline: heartbeat latency with no snapshot in flight.
		var base []time.Duration
		for i := uint64(1 << 32); i < 1<<32+200; i++ {
			t0 := time.Now()
			ts["n1"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1, Context: i})
			for m := range ts["n1"].Inbound() {
				if m.Type == engine.MsgHeartbeatResp && m.Context == i {
					break
				}
			}
			base = append(base, time.Since(t0))
			time.Sleep(time.Millisecond) // heartbeat interval, not a wait for a condition
		}
		slices.Sort(base)

		start := time.Now()
		var lat []time.Duration
		sendDone := make(chan struct{})
		go func() { // the snapshot sender, a window of 4 chunks; ends after the last chunk
			defer close(sendDone)
			for off := 0; off < total; off += chunk {
				for int64(off)-snapBytes.Load() >= 4*chunk {
					time.Sleep(100 * time.Microsecond)
				}
				ts["n1"].Send(engine.Message{Type: engine.MsgSnap, From: "n1", To: "n3", Term: 1, Snapshot: snap, Offset: uint64(off), Data: data, Done: off+chunk == total})
			}
		}()
		replies := ts["n1"].Inbound()
	loop:
		for i := uint64(1); ; i++ {
			select {
			case <-snapDone:
				break loop
			default:
			}
			t0 := time.Now()
			ts["n1"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1, Context: i})
			for m := range replies {
				if m.Type == engine.MsgHeartbeatResp && m.Context == i {
					break
				}
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(time.Millisecond) // heartbeat interval, not a wait for a condition
		}
		elapsed := time.Since(start)
		<-sendDone
		for _, tr := range ts {
			tr.Close()
		}
		wg.Wait()
		slices.Sort(lat)
		b.ReportMetric(float64(total)/(1<<20)/elapsed.Seconds(), "snapMiB/s")
		b.ReportMetric(float64(len(lat)), "heartbeats")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "hb-p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "hb-p99-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "hb-max-µs")
		b.ReportMetric(float64(base[len(base)/2].Microseconds()), "idle-hb-p50-µs")
		b.ReportMetric(float64(base[len(base)*99/100].Microseconds()), "idle-hb-p99-µs")
	}
}
