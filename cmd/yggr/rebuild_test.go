package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRebuild: a node whose write-ahead log rotted refuses to start
// ("corrupt data", naming the file); `yggr rebuild` sets its directory
// aside and removes it from the cluster; started again empty with --join
// it becomes a voter with the data. rebuild refuses a directory in use.
func TestRebuild(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ids := []string{"n1", "n2", "n3"}
	https, rafts, peers := peerAddrs(t, ids...)
	args := func(i int) []string {
		return []string{"--id", ids[i], "--dir", filepath.Join(root, ids[i]), "--http-addr", https[i],
			"--raft-addr", rafts[i], "--insecure", "--log-level", "warn"}
	}
	var nodes []*servedNode
	for i := range ids {
		n := serveIn(t, append(args(i), "--peers", peers)...)
		n.httpAddr = https[i]
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		waitReady(t, n, 30*time.Second)
	}
	runSteps(t, https[0], []step{{name: "put", args: []string{"put", "k", "v"}, wantStdout: str("OK\n")}})
	dir := filepath.Join(root, "n3")
	if r := runIn(t, "", "rebuild", "--dir", dir, "--id", "n3", "--addr", https[0]); r.code != exitUsage || !strings.Contains(r.stderr, "in use") {
		t.Errorf("rebuild of a running node: %v, want exit %d: in use", r, exitUsage)
	}
	if code := nodes[2].stop(t); code != exitOK {
		t.Fatalf("n3 stop: exit %d", code)
	}
	seg := filepath.Join(dir, "raft", "wal", "0000000000000000.wal")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[16+20] ^= 0xff // in the first record; valid records follow
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	n3 := serveIn(t, args(2)...)
	if code := n3.wait(30 * time.Second); code != exitError || !strings.Contains(n3.stderr.String(), "corrupt data") || !strings.Contains(n3.stderr.String(), seg) {
		t.Fatalf("serve of the damaged n3: exit %d, log %q; want exit %d and corrupt data naming %s", code, n3.logTail(5), exitError, seg)
	}

	r := runIn(t, "", "rebuild", "--dir", dir, "--id", "n3", "--addr", https[0])
	join := "yggr serve --id n3 --dir " + dir + " --join " + https[0]
	if r.code != exitOK || !strings.Contains(r.stdout, "Moved "+dir+" to "+dir+".damaged-") ||
		!strings.Contains(r.stdout, "Removed n3 from the cluster.") || !strings.Contains(r.stdout, join) {
		t.Fatalf("rebuild: %v", r)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after rebuild (%v)", dir, err)
	}
	// A second run finds nothing left to do.
	if r := runIn(t, "", "rebuild", "--dir", dir, "--id", "n3", "--addr", https[0]); r.code != exitOK || !strings.Contains(r.stdout, "n3 is not a member.") {
		t.Errorf("rebuild again: %v", r)
	}
	if r := runIn(t, "", "members", "list", "--addr", https[0]); r.code != exitOK || strings.Contains(r.stdout, "n3") || !strings.Contains(r.stdout, "n2  ") {
		t.Errorf("members after rebuild: %v, want n1 and n2 only", r)
	}

	n3 = serveIn(t, append(args(2), "--join", https[0])...)
	n3.httpAddr = https[2]
	waitVoter(t, nodes[0], "n3", n3, 45*time.Second)
	runSteps(t, https[2], []step{{name: "read on the rebuilt node", args: []string{"get", "k"}, wantStdout: str("v")}})
}
