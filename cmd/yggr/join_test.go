package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/freeport"
)

// peerArgs are the serve flags of node id, peer-secured with the
// certificates in certs, on the given addresses.
func peerArgs(certs, id, dir, httpAddr, raftAddr string) []string {
	return []string{"--id", id, "--dir", dir, "--http-addr", httpAddr, "--raft-addr", raftAddr, "--log-level", "info",
		"--tls-ca", filepath.Join(certs, "ca.crt"), "--tls-cert", filepath.Join(certs, id+".crt"),
		"--tls-key", filepath.Join(certs, id+".key")}
}

// TestJoinHTTPS grows a two-voter cluster whose HTTP API is HTTPS: n3
// joins through n1 with --join-ca, becomes a voter, serves reads, and
// after a restart with the same flags finds itself a voter already.
func TestJoinHTTPS(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	makeCerts(t, certs, "n1", "n2", "n3")
	ca := filepath.Join(certs, "ca.crt")
	https, rafts, _ := peerAddrs(t, "n1", "n2", "n3")
	var voters []*servedNode
	for i, id := range []string{"n1", "n2"} {
		n := serveIn(t, append(peerArgs(certs, id, filepath.Join(root, id), https[i], rafts[i]),
			"--peers", "n1="+rafts[0]+",n2="+rafts[1],
			"--http-tls-cert", filepath.Join(certs, id+".crt"), "--http-tls-key", filepath.Join(certs, id+".key"))...)
		n.httpAddr, n.cacert = https[i], ca
		voters = append(voters, n)
	}
	for _, n := range voters {
		waitReady(t, n, 30*time.Second)
	}
	n1 := voters[0]
	runSteps(t, n1.httpAddr, []step{{name: "put", args: []string{"put", "--cacert", ca, "k", "v"}, wantStdout: str("OK\n")}})

	n3args := append(peerArgs(certs, "n3", filepath.Join(root, "n3"), https[2], rafts[2]), "--join", n1.httpAddr, "--join-ca", ca)
	n3 := serveIn(t, n3args...)
	n3.httpAddr = https[2]
	waitVoter(t, n1, "n3", n3, 30*time.Second)
	// n3 logs its promotion once the change it asked for returns, which
	// may be after the members list shows it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	poll(ctx, func() bool { return strings.Contains(n3.stderr.String(), "joined as a voter") })
	for _, want := range []string{"msg=\"joining as a learner\" node=n3 via=" + n1.httpAddr, "msg=\"catching up\"", "msg=\"joined as a voter\" node=n3"} {
		if !strings.Contains(n3.stderr.String(), want) {
			t.Errorf("n3's log: got %q, want a record with %q", n3.logTail(20), want)
		}
	}
	runSteps(t, n3.httpAddr, []step{
		{name: "read on the joined node", args: []string{"get", "k"}, wantStdout: str("v")},
		{name: "members", args: []string{"members", "list"}, stdoutHas: "n3  " + rafts[2] + "  voter\n"},
	})
	r := runIn(t, "", "status", "--cacert", ca, "--addr", "https://"+n1.httpAddr+",http://"+n3.httpAddr)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stdout, "n3  "+rafts[2]+"  follower") {
		t.Errorf("status of the grown cluster: got %v, want a header and three rows, n3 following", r)
	}

	// A restart with the same flags: already a voter, nothing to do.
	if code := n3.stop(t); code != exitOK {
		t.Fatalf("n3 stop: got exit %d, want 0; log:\n%s", code, n3.logTail(20))
	}
	n3b := serveIn(t, n3args...)
	n3b.httpAddr = https[2]
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := poll(ctx, func() bool { return strings.Contains(n3b.stderr.String(), "already a voter") || !n3b.running() }); err != nil || !n3b.running() {
		t.Fatalf("restarted n3 did not find itself a voter (%v); log:\n%s", err, n3b.logTail(20))
	}
	if strings.Contains(n3b.stderr.String(), "joining as a learner") {
		t.Errorf("restarted n3 joined again; log:\n%s", n3b.logTail(20))
	}

	// A restart from the data directory alone: no --join, no --peers.
	if code := n3b.stop(t); code != exitOK {
		t.Fatalf("n3 stop: got exit %d, want 0; log:\n%s", code, n3b.logTail(20))
	}
	n3c := serveIn(t, peerArgs(certs, "n3", filepath.Join(root, "n3"), https[2], rafts[2])...)
	n3c.httpAddr = https[2]
	waitReady(t, n3c, 30*time.Second)
	runSteps(t, n3c.httpAddr, []step{
		{name: "members after a restart without --join", args: []string{"members", "list"}, stdoutHas: "n3  " + rafts[2] + "  voter\n"},
		{name: "write through the restarted node", args: []string{"put", "k2", "v2"}, wantStdout: str("OK\n")},
	})

	// A restart with --join whose member is down, and one with --peers
	// naming another cluster: the data directory decides, the flags are
	// not needed.
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	prev := n3c
	for _, extra := range [][]string{
		{"--join", closed[0], "--join-timeout", "1s"},
		{"--peers", "n3=" + rafts[2]},
	} {
		if code := prev.stop(t); code != exitOK {
			t.Fatalf("n3 stop: got exit %d, want 0; log:\n%s", code, prev.logTail(20))
		}
		n := serveIn(t, append(peerArgs(certs, "n3", filepath.Join(root, "n3"), https[2], rafts[2]), extra...)...)
		n.httpAddr = https[2]
		waitReady(t, n, 30*time.Second)
		runSteps(t, n.httpAddr, []step{
			{name: "members after a restart with " + extra[0], args: []string{"members", "list"}, stdoutHas: "n3  " + rafts[2] + "  voter\n"},
			{name: "write after a restart with " + extra[0], args: []string{"put", "k3", "v3"}, wantStdout: str("OK\n")},
		})
		if !n.running() || extra[0] == "--join" && !strings.Contains(n.stderr.String(), "already a voter (from the data directory)") {
			t.Fatalf("n3 restarted with %v: want it running, a voter from its data directory; log:\n%s", extra, n.logTail(20))
		}
		prev = n
	}
}

// waitVoter polls the members list of via until id is a voter, failing if
// the joining node j returns first.
func waitVoter(t *testing.T, via *servedNode, id string, j *servedNode, timeout time.Duration) {
	t.Helper()
	f := clientFlags{Addr: via.httpAddr, CACert: via.cacert, Timeout: 2 * time.Second}
	cl, err := f.client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = poll(ctx, func() bool {
		ms, err := cl.Members(ctx)
		if err != nil {
			return !j.running()
		}
		for _, m := range ms {
			if m.ID == id && m.Voter {
				return true
			}
		}
		return !j.running()
	})
	if err != nil || !j.running() {
		t.Fatalf("%s did not become a voter (%v); its log:\n%s", id, err, j.logTail(30))
	}
}

// TestJoinFailures: a join that cannot succeed ends the serve once
// --join-timeout has passed, with the reason and exit code 4.
func TestJoinFailures(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	makeCerts(t, certs, "web")
	other := filepath.Join(root, "other")
	makeCerts(t, other)
	web := startTLSNode(t, certs, "web")
	locked := startNode(t, "--token", "s3cret")
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		join      []string
		wantCode  int
		retried   bool // until --join-timeout; else the serve ends at once
		stderrHas string
	}{
		{"unreachable", []string{"--join", closed[0]}, exitUnavailable, true, "connection refused (gave up: context deadline exceeded)"},
		// A certificate that does not verify, a 400 or a 401 is not
		// retried: the same request can only fail again.
		{"https without a CA", []string{"--join", "https://" + web.httpAddr}, exitUnavailable, false, "certificate signed by unknown authority"},
		{"another CA", []string{"--join", web.httpAddr, "--join-ca", filepath.Join(other, "ca.crt")}, exitUnavailable, false, "certificate signed by unknown authority"},
		{"http to https", []string{"--join", web.httpAddr}, exitUsage, false, "Client sent an HTTP request to an HTTPS server"},
		{"wrong token", []string{"--join", locked.httpAddr, "--token", "wrong"}, exitError, false, "401 unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addrs, err := freeport.TCP(1)
			if err != nil {
				t.Fatal(err)
			}
			rafts, err := freeport.UDP(1)
			if err != nil {
				t.Fatal(err)
			}
			// Short for the joins retried until it passes, long for the
			// others, which must end well before it.
			joinTimeout := 1500 * time.Millisecond
			if !tt.retried {
				joinTimeout = 25 * time.Second
			}
			args := append([]string{"--id", "n9", "--dir", filepath.Join(t.TempDir(), "data"), "--http-addr", addrs[0],
				"--raft-addr", rafts[0], "--insecure", "--log-level", "warn", "--join-timeout", joinTimeout.String()}, tt.join...)
			start := time.Now()
			n := serveIn(t, args...)
			code := n.wait(30 * time.Second)
			took := time.Since(start)
			log := n.stderr.String()
			if tt.retried != (took >= joinTimeout) {
				t.Errorf("serve %v: ended after %v; want it to retry until --join-timeout %v: %v", tt.join, took, joinTimeout, tt.retried)
			}
			if code != tt.wantCode || !strings.Contains(log, "Error: serve: join: ") || !strings.Contains(log, tt.stderrHas) {
				t.Errorf("serve %v: got exit %d and stderr %q, want exit %d and \"Error: serve: join: ...%s...\"",
					tt.join, code, log, tt.wantCode, tt.stderrHas)
			}
		})
	}
}
