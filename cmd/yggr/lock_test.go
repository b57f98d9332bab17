package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/testutil"
)

// TestLockCommand: yggr lock runs the command with the lock and its
// fencing token in the environment, exits with the command's code, keeps
// two runs apart, and leaves no key and no lease behind.
func TestLockCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the commands run under sh")
	}
	t.Parallel()
	n := startNode(t)
	// The command's exit status is yggr's, with nothing printed.
	for _, tc := range []struct {
		script string
		code   int
	}{{"exit 7", 7}, {"kill -9 $$", 128 + 9}} {
		if r := runIn(t, "", "lock", "--addr", n.httpAddr, "jobs", "--", "sh", "-c", tc.script); r.code != tc.code || r.stderr != "" {
			t.Errorf("lock -- sh -c %q: %v, want exit %d and no error", tc.script, r, tc.code)
		}
	}
	r := runIn(t, "", "lock", "--addr", n.httpAddr, "jobs", "--", "sh", "-c", `echo "$YGGR_LOCK_NAME $YGGR_LOCK_TOKEN $YGGR_LOCK_KEY $YGGR_LEASE"`)
	if f := strings.Fields(r.stdout); r.code != 0 || len(f) != 4 || f[0] != "jobs" || !strings.HasPrefix(f[2], "jobs/") ||
		!isNumber(f[1]) || !isNumber(f[3]) {
		t.Errorf("the command's environment: %v, want the name, a token, the key and the lease", r)
	}
	runSteps(t, n.httpAddr, []step{
		{name: "stdin", args: []string{"lock", "jobs", "--", "cat"}, stdin: "passed on\n", wantStdout: str("passed on\n")},
		{name: "no command", args: []string{"lock", "jobs", "--"}, wantCode: exitUsage, stderrHas: "no command"},
		{name: "bad ttl", args: []string{"lock", "--ttl", "0s", "jobs", "--", "true"}, wantCode: exitUsage},
		{name: "missing command", args: []string{"lock", "jobs", "--", "/nonexistent/cmd"}, wantCode: exitError, stderrHas: "starting the command"},
		{name: "no key left", args: []string{"scan", "--prefix", "jobs/"}, wantStdout: str("")},
		{name: "no lease left", args: []string{"lease", "list", "-o", "json"}, stdoutHas: "[]"},
	})

	// Two runs at once take turns: the log shows one whole critical
	// section, then the other. The tokens grow.
	log := filepath.Join(t.TempDir(), "log")
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := runIn(t, "", "lock", "--addr", n.httpAddr, "jobs", "--", "sh", "-c",
				`echo "start $YGGR_LOCK_TOKEN" >> "$1"; sleep 0.3; echo "end $YGGR_LOCK_TOKEN" >> "$1"`, "sh", log)
			codes[i] = r.code
		}()
	}
	wg.Wait()
	if codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("exit codes %v", codes)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// "start T1 / end T1 / start T2 / end T2" with T1 < T2.
	f := strings.Fields(string(b))
	t1, err1 := strconv.Atoi(f[1%len(f)])
	t2, err2 := strconv.Atoi(f[5%len(f)])
	if len(f) != 8 || f[0] != "start" || f[2] != "end" || f[4] != "start" || f[6] != "end" ||
		f[1] != f[3] || f[5] != f[7] || err1 != nil || err2 != nil || t1 >= t2 {
		t.Errorf("critical sections overlap or tokens do not grow:\n%s", b)
	}
}

// TestLockCommandWaitAndInterrupt: --wait gives up on a held lock (exit
// 4), and an interrupt while waiting exits without leaving a key.
func TestLockCommandWaitAndInterrupt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the commands run under sh")
	}
	t.Parallel()
	n := startNode(t)
	// A holder that holds until its input closes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var out testutil.LogBuffer
	held := make(chan int, 1)
	go func() {
		held <- run(ctx, []string{"lock", "--addr", n.httpAddr, "busy", "--", "sh", "-c", "echo holding; cat >/dev/null"},
			&env{ctx: ctx, stdin: pr, stdout: &out, stderr: &out})
	}()
	testutil.WaitFor(t, "the holder to run", func() bool { return strings.Contains(out.String(), "holding") })
	r := runIn(t, "", "lock", "--addr", n.httpAddr, "--wait", "300ms", "busy", "--", "true")
	if r.code != exitUnavailable || !strings.Contains(r.stderr, "not held within") {
		t.Errorf("lock --wait on a held lock: %v, want exit %d", r, exitUnavailable)
	}
	ictx, interrupt := context.WithCancel(ctx)
	var iout testutil.LogBuffer
	waiting := make(chan int, 1)
	go func() {
		waiting <- run(ictx, []string{"lock", "--addr", n.httpAddr, "busy", "--", "true"}, &env{ctx: ictx, stdout: &iout, stderr: &iout})
	}()
	testutil.WaitFor(t, "the waiter to queue", func() bool {
		s := runIn(t, "", "scan", "--addr", n.httpAddr, "--prefix", "busy/", "--keys-only")
		return strings.Count(s.stdout, "\n") == 2
	})
	interrupt()
	if code := <-waiting; code == exitOK {
		t.Errorf("interrupted lock exited 0: %s", iout.String())
	}
	testutil.WaitFor(t, "the waiter's key to go", func() bool {
		s := runIn(t, "", "scan", "--addr", n.httpAddr, "--prefix", "busy/", "--keys-only")
		return strings.Count(s.stdout, "\n") == 1
	})
	pw.Close() // the holder's command ends
	if code := <-held; code != exitOK {
		t.Errorf("holder exited %d: %s", code, out.String())
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// TestLockCommandLeaseLost: when the lease that holds the lock is revoked
// under a running command, the command is stopped and yggr exits 4.
func TestLockCommandLeaseLost(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the commands run under sh")
	}
	t.Parallel()
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	var out testutil.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"lock", "--addr", n.httpAddr, "--ttl", "1s", "lost", "--", "sh", "-c", `echo "lease $YGGR_LEASE"; exec cat`},
			&env{ctx: ctx, stdin: pr, stdout: &out, stderr: &out})
	}()
	var lease string
	testutil.WaitFor(t, "the command to run", func() bool {
		f := strings.Fields(out.String())
		if len(f) >= 2 {
			lease = f[1]
		}
		return lease != ""
	})
	if r := runIn(t, "", "lease", "revoke", "--addr", n.httpAddr, lease); r.code != exitOK {
		t.Fatalf("revoke: %v", r)
	}
	select {
	case code := <-done:
		if code != exitUnavailable || !strings.Contains(out.String(), "lost") {
			t.Errorf("lock whose lease was revoked: exit %d, output %q; want exit %d and the loss told", code, out.String(), exitUnavailable)
		}
	case <-ctx.Done():
		t.Fatal("the command was not stopped after the lease was revoked")
	}
}

// TestElectCommand: a candidate leads until interrupted, the next one
// takes over, and an observer sees both.
func TestElectCommand(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := func(ctx context.Context, out *testutil.LogBuffer, args ...string) chan int {
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, append([]string{"elect", "--addr", n.httpAddr}, args...), &env{ctx: ctx, stdin: strings.NewReader(""), stdout: out, stderr: out})
		}()
		return done
	}
	var obs, a, b testutil.LogBuffer
	octx, stopObs := context.WithCancel(ctx)
	obsDone := start(octx, &obs, "-l", "sched")
	actx, stopA := context.WithCancel(ctx)
	aDone := start(actx, &a, "sched", "alpha")
	testutil.WaitFor(t, "alpha to lead", func() bool { return strings.HasSuffix(a.String(), "\nalpha\n") })
	bctx, stopB := context.WithCancel(ctx)
	bDone := start(bctx, &b, "sched", "beta")
	testutil.WaitFor(t, "the observer to see alpha", func() bool { return obs.String() == "alpha\n" })
	stopA()
	if code := <-aDone; code != exitOK {
		t.Errorf("alpha exited %d: %s", code, a.String())
	}
	testutil.WaitFor(t, "beta to lead", func() bool { return strings.HasSuffix(b.String(), "\nbeta\n") })
	testutil.WaitFor(t, "the observer to see beta", func() bool { return obs.String() == "alpha\nbeta\n" })
	stopB()
	stopObs()
	if code := <-bDone; code != exitOK {
		t.Errorf("beta exited %d: %s", code, b.String())
	}
	if code := <-obsDone; code != exitOK {
		t.Errorf("observer exited %d: %s", code, obs.String())
	}
	runSteps(t, n.httpAddr, []step{
		{name: "no value", args: []string{"elect", "sched"}, wantCode: exitUsage, stderrHas: "no VALUE"},
		{name: "listen with value", args: []string{"elect", "-l", "sched", "x"}, wantCode: exitUsage},
		{name: "bad ttl", args: []string{"elect", "--ttl", "-1s", "sched", "x"}, wantCode: exitUsage},
		{name: "no candidate left", args: []string{"scan", "--prefix", "sched/"}, wantStdout: str("")},
	})
}
