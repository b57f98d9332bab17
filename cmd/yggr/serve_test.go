package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeDefaults runs `yggr serve` with only a free HTTP port in a
// temporary working directory: a single-node database in ./yggr-data. It
// stops on SIGTERM with exit code 0 and keeps its data across a restart.
func TestServeDefaults(t *testing.T) {
	t.Parallel()
	https, err := freeAddrs("tcp", 1)
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	n := &localNode{id: "n1", httpAddr: https[0], exe: yggrBin, workDir: wd,
		logPath: filepath.Join(wd, "n1.log"), args: []string{"serve", "--http-addr", https[0]}}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.kill() })
	waitReady(t, n, 20*time.Second)
	if _, err := os.Stat(filepath.Join(wd, "yggr-data", "yggr.json")); err != nil {
		t.Errorf("default data directory: %v", err)
	}
	runSteps(t, n.httpAddr, []step{{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")}})

	// A second server on the same HTTP port fails cleanly.
	r := runCLI(t, "", nil, "serve", "--dir", t.TempDir(), "--http-addr", https[0])
	if r.code != exitError || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("serve on a taken port: got %v, want exit %d", r, exitError)
	}

	if err := n.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop within 15s of SIGTERM; log:\n%s", n.logTail(20))
	}
	if n.exitErr != nil {
		t.Errorf("serve after SIGTERM: got %v, want exit 0; log:\n%s", n.exitErr, n.logTail(20))
	}
	if log, _ := os.ReadFile(n.logPath); !strings.Contains(string(log), "msg=stopped") {
		t.Errorf("serve log: got %q, want a \"stopped\" record", log)
	}

	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, n, 20*time.Second)
	runSteps(t, n.httpAddr, []step{{name: "get after restart", args: []string{"get", "k"}, wantStdout: str("v")}})
	if err := n.stop(10 * time.Second); err != nil {
		t.Error(err)
	}
}

// TestClusterTLSAndJoin starts three nodes secured with certificates from
// `yggr certs`, then a fourth that joins with --join and becomes a voter.
func TestClusterTLSAndJoin(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	if r := runCLI(t, "", nil, "certs", "init", "--out", certs); r.code != 0 {
		t.Fatalf("certs init: %v", r)
	}
	nodes, err := newLocalNodes(yggrBin, root, 4, "unused")
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, n := range nodes[:3] {
		peers = append(peers, n.id+"="+n.raftAddr)
	}
	for i, n := range nodes {
		if r := runCLI(t, "", nil, "certs", "node", "--ca-dir", certs, "--id", n.id, "--host", "127.0.0.1", "--out", certs); r.code != 0 {
			t.Fatalf("certs node: %v", r)
		}
		n.args = []string{"serve", "--id", n.id, "--dir", n.dir, "--http-addr", n.httpAddr, "--raft-addr", n.raftAddr,
			"--tls-ca", filepath.Join(certs, "ca.crt"), "--tls-cert", filepath.Join(certs, n.id+".crt"),
			"--tls-key", filepath.Join(certs, n.id+".key"), "--log-level", "warn"}
		if i < 3 {
			n.args = append(n.args, "--peers", strings.Join(peers, ","))
		} else {
			n.args = append(n.args, "--join", nodes[0].httpAddr)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(10 * time.Second)
		}
	})
	for _, n := range nodes[:3] {
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes[:3] {
		waitReady(t, n, 30*time.Second)
	}
	all := nodes[0].httpAddr + "," + nodes[1].httpAddr + "," + nodes[2].httpAddr
	runSteps(t, all, []step{
		{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")},
		{name: "get via n3", args: []string{"get", "--addr", nodes[2].httpAddr, "k"}, wantStdout: str("v")},
	})

	if err := nodes[3].start(); err != nil {
		t.Fatal(err)
	}
	cl := testClient(t, nodes[0].httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	err = poll(ctx, func() bool {
		ms, err := cl.Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.ID == "n4" && m.Voter {
				return true
			}
		}
		return !nodes[3].running()
	})
	if err != nil || !nodes[3].running() {
		t.Fatalf("n4 did not become a voter (%v); its log:\n%s", err, nodes[3].logTail(30))
	}
	runSteps(t, nodes[3].httpAddr, []step{
		{name: "read on the joined node", args: []string{"get", "k"}, wantStdout: str("v")},
		{name: "status lists four", args: []string{"members", "list"}, stdoutHas: "n4  " + nodes[3].raftAddr + "  voter"},
	})
	r := runCLI(t, "", nil, "status", "--addr", all+","+nodes[3].httpAddr)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 5 || !strings.Contains(r.stdout, "leader") {
		t.Errorf("status of four nodes: got %v, want a header and four rows", r)
	}
}
