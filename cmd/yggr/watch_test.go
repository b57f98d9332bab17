package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/httpapi"
	"github.com/yggrdb/yggr/internal/testutil"

	"github.com/yggrdb/yggr/internal/freeport"
)

// watchIn runs `yggr watch args...` in this process until its stdout has
// lines lines, then cancels its context (as SIGINT does) and returns what
// it printed and its exit code.
func watchIn(t *testing.T, lines int, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr testutil.LogBuffer
	done := make(chan int, 1)
	// Owned by the test; ends when ctx is cancelled below.
	go func() {
		done <- run(ctx, append([]string{"watch"}, args...), &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	}()
	for strings.Count(stdout.String(), "\n") < lines {
		select {
		case code := <-done:
			return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
		case <-ctx.Done():
			t.Fatalf("yggr watch %v: %d lines after 30s, want %d: %q", args, strings.Count(stdout.String(), "\n"), lines, stdout.String())
		case <-time.After(time.Millisecond): // polling the output with a deadline
		}
	}
	cancel()
	return result{code: <-done, stdout: stdout.String(), stderr: stderr.String()}
}

func TestWatchCommand(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	cl := testClient(t, n.httpAddr)
	ctx := context.Background()
	put := func(k, v string) uint64 {
		index, err := cl.Put(ctx, []byte(k), []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		return index
	}
	r1 := put("p/a", "1")
	put("q", "outside")
	r2 := put("p/a", "two words")
	r3, _, err := cl.Delete(ctx, []byte("p/a"))
	if err != nil {
		t.Fatal(err)
	}
	r4 := put("p/\x00b", "")

	want := fmt.Sprintf("%d PUT p/a 1\n%d PUT p/a \"two words\" (prev 1)\n%d DELETE p/a (prev \"two words\")\n%d PUT \"p/\\x00b\" \"\" \n",
		r1, r2, r3, r4)
	want = strings.Replace(want, "\"\" \n", "\"\"\n", 1)
	r := watchIn(t, 4, "--addr", n.httpAddr, "--from", "1", "--prev", "p/")
	if diff := cmp.Diff(want, r.stdout); r.code != exitOK || r.stderr != "" || diff != "" {
		t.Fatalf("watch --prev: %v; stdout (-want +got):\n%s", r, diff)
	}

	// -o json: the stream's lines; a range instead of a prefix.
	r = watchIn(t, 2, "--addr", n.httpAddr, "--from", fmt.Sprint(r1), "-o", "json", "--start", "p/", "--end", "p/b")
	if r.code != exitOK {
		t.Fatalf("watch -o json: %v", r)
	}
	for i, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[:2] {
		var wl httpapi.WatchLine
		if err := json.Unmarshal([]byte(l), &wl); err != nil || len(wl.Events) != 1 || string(wl.Events[0].Item.Key) != "p/a" ||
			wl.Revision != []uint64{r1, r2}[i] {
			t.Fatalf("watch -o json line %d %q (%v), want the put of p/a at %d", i, l, err, []uint64{r1, r2}[i])
		}
	}

	// From now: a change made after the watch started, and progress lines.
	r = watchIn(t, 1, "--addr", n.httpAddr, "--progress", "100ms", "quiet/")
	if r.code != exitOK || !strings.HasSuffix(r.stdout, " PROGRESS\n") {
		t.Fatalf("watch --progress: %v, want progress lines", r)
	}
}

func TestWatchUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args      []string
		stderrHas string
	}{
		{[]string{"watch", "p/", "--start", "a"}, "cannot be combined"},
		{[]string{"watch", "--start", "b", "--end", "a"}, "is empty"},
		{[]string{"watch", "--progress", "1ms"}, "--progress"},
		{[]string{"watch", "--from", "-1"}, "--from"},
		{[]string{"watch", "a", "b"}, "unexpected argument b"},
		{[]string{"serve", "--max-watchers=-1"}, "--max-watchers"},
		{[]string{"serve", "--watch-history=-1"}, "--watch-history"},
	} {
		r := runIn(t, "", tt.args...)
		if r.code != exitUsage || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, tt.stderrHas) {
			t.Errorf("yggr %v: got %v, want exit %d and \"Error: ...%s...\"", tt.args, r, exitUsage, tt.stderrHas)
		}
	}
	// No endpoint answers: it gives up after --timeout.
	closed, err := freeport.TCP(1)
	if err != nil {
		t.Fatal(err)
	}
	r := runIn(t, "", "watch", "--addr", closed[0], "--timeout", "300ms")
	if r.code != exitUnavailable {
		t.Errorf("watch with no server: %v, want exit %d", r, exitUnavailable)
	}
}

// TestWatchSIGINT: the binary prints changes as they happen and exits 0
// on SIGINT.
func TestWatchSIGINT(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	t.Parallel()
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, yggrBin, "watch", "--addr", n.httpAddr, "k")
	cmd.Env = childEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testutil.LogBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	// Owned by the test; ends when the process closes its stdout.
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The watch starts from now: write until it prints one of the writes.
	cl := testClient(t, n.httpAddr)
	var line string
	for i := 0; line == ""; i++ {
		if i == 200 {
			t.Fatalf("watch printed nothing after %d writes; stderr %q", i, stderr.String())
		}
		if _, err := cl.Put(ctx, []byte("k"), fmt.Append(nil, i)); err != nil {
			t.Fatal(err)
		}
		select {
		case line = <-lines:
		case <-time.After(100 * time.Millisecond):
		}
	}
	if f := strings.Fields(line); len(f) != 4 || f[1] != "PUT" || f[2] != "k" {
		t.Fatalf("watch printed %q, want \"REV PUT k VALUE\"", line)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until it exits
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch after SIGINT: %v (stderr %q), want exit 0", err, stderr.String())
	}
	if stderr.String() != "" {
		t.Errorf("watch after SIGINT wrote to stderr: %q", stderr.String())
	}
}

// A serve that stops ends its watch streams at once, with a "closed" line,
// instead of waiting for them until its shutdown timeout.
func TestServeEndsWatchStreams(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+n.httpAddr+"/v1/watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, err := br.ReadString('\n'); err != nil || !strings.Contains(l, `"progress":true`) {
		t.Fatalf("start line %q, %v", l, err)
	}
	began := time.Now()
	if code := n.stop(t); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}
	if d := time.Since(began); d >= shutdownTimeout/2 {
		t.Errorf("serve took %v to stop with a watch stream open", d)
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), `"code":"closed"`) {
		t.Errorf("the stream ended with %q, want a closed error line", rest)
	}
}
