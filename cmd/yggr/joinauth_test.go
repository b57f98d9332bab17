package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/freeport"
)

// TestJoinNeedsClusterCredentials: on a cluster served without --token, a
// node that joins without the cluster's credentials (another
// --cluster-secret, or --insecure) is refused at once with the real
// reason and exit code 2, long before --join-timeout, and the cluster
// keeps no learner for it.
func TestJoinNeedsClusterCredentials(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	https, rafts, _ := peerAddrs(t, "n1", "n2", "n3")
	const secret = "the cluster's secret"
	n1 := serveIn(t, "--id", "n1", "--dir", filepath.Join(root, "n1"), "--http-addr", https[0], "--raft-addr", rafts[0],
		"--peers", "n1="+rafts[0], "--cluster-secret", secret, "--log-level", "warn")
	n1.httpAddr = https[0]
	waitReady(t, n1, 20*time.Second)

	for i, tt := range []struct {
		name, id string
		creds    []string
	}{
		{"another secret", "n2", []string{"--cluster-secret", "another cluster's secret"}},
		{"insecure", "n3", []string{"--insecure"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const joinTimeout = 25 * time.Second
			start := time.Now()
			j := serveIn(t, append([]string{"--id", tt.id, "--dir", filepath.Join(root, tt.id), "--http-addr", https[1+i],
				"--raft-addr", rafts[1+i], "--join", n1.httpAddr, "--join-timeout", joinTimeout.String(), "--log-level", "warn"},
				tt.creds...)...)
			code := j.wait(joinTimeout + 10*time.Second)
			if took := time.Since(start); took > joinTimeout/2 {
				t.Errorf("the refused join took %v, want it to end at once", took)
			}
			log := j.stderr.String()
			if code != exitUsage || !strings.Contains(log, "does not hold this cluster's credentials") ||
				!strings.Contains(log, "not signed by the cluster CA") {
				t.Errorf("join with %v: got exit %d, log %q; want exit %d and the reason", tt.creds, code, log, exitUsage)
			}
			cl := testClient(t, n1.httpAddr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ms, err := cl.Members(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 {
				t.Errorf("members after the refused join: got %+v, want n1 alone", ms)
			}
		})
	}
}

// TestFailedJoinRemovesItsLearner: a join that is added but never
// completes (here a secured node joining an insecure cluster, whose
// replication it refuses) removes its learner when it gives up, and says
// so in the log.
func TestFailedJoinRemovesItsLearner(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	https, err := freeport.TCP(2)
	if err != nil {
		t.Fatal(err)
	}
	rafts, err := freeport.UDP(2)
	if err != nil {
		t.Fatal(err)
	}
	n1 := serveIn(t, "--id", "n1", "--dir", filepath.Join(root, "n1"), "--http-addr", https[0], "--raft-addr", rafts[0],
		"--peers", "n1="+rafts[0], "--insecure", "--log-level", "warn")
	n1.httpAddr = https[0]
	waitReady(t, n1, 20*time.Second)
	j := serveIn(t, "--id", "n2", "--dir", filepath.Join(root, "n2"), "--http-addr", https[1], "--raft-addr", rafts[1],
		"--join", n1.httpAddr, "--join-timeout", "2s", "--cluster-secret", "a secret the cluster lacks", "--log-level", "warn")
	code := j.wait(30 * time.Second)
	log := j.stderr.String()
	if code != exitUnavailable || !strings.Contains(log, "join failed: removed this node's learner from the cluster") {
		t.Errorf("failed join: got exit %d, log %q; want exit %d and a record of the learner's removal", code, log, exitUnavailable)
	}
	cl := testClient(t, n1.httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, err := cl.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Errorf("members after the failed join: got %+v, want n1 alone", ms)
	}
}
