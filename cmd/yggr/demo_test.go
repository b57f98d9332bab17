package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoDir finds the temporary directory the demo announces.
var demoDir = regexp.MustCompile(`in (\S*yggr-demo-\S+)`)

func TestDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the demo runs three processes for several seconds: skipped with -short")
	}
	// In this process (its nodes are processes of the built binary).
	r := runIn(t, "", "demo", "--keys", "600", "--concurrency", "8", "--timeout", "50s")
	if r.code != 0 {
		t.Fatalf("demo: %v", r)
	}
	for _, want := range []string{"Leader elected:", "600 writes acknowledged", "Killing the leader",
		"first write accepted", "600/600 acknowledged keys read back", "caught up to index", "Summary", "failover"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	m := demoDir.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("demo output names no directory:\n%s", r.stdout)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo left %s behind (stat: %v)", m[1], err)
	}
}

// TestDemoInterrupted sends SIGINT while the demo writes: it must stop
// its nodes and remove its directory.
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, yggrBin, "demo", "--keys", "100000", "--timeout", "50s")
	cmd.Env = childEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	var https []string
	httpLine := regexp.MustCompile(`http (127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(out)
	for sc.Scan() { // bounded by the demo's output, which ends when it exits
		line := sc.Text()
		if m := demoDir.FindStringSubmatch(line); m != nil {
			dir = m[1]
		}
		if m := httpLine.FindStringSubmatch(line); m != nil {
			https = append(https, m[1])
		}
		if strings.HasPrefix(line, "Writing") {
			break
		}
	}
	if dir == "" || len(https) != 3 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("demo did not announce its directory and three nodes (dir %q, http %v)", dir, https)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out) // owned by the test; ends when the demo exits and the pipe closes
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Errorf("interrupted demo: got %v, want exit %d", err, exitError)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("interrupted demo left %s behind (stat: %v)", dir, err)
	}
	for _, a := range https {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("a demo node still listens on %s after the interrupt", a)
		}
	}
}
