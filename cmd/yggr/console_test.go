package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/yggrdb/yggr/httpapi"
)

// The console in a real browser: headless Chromium (the Debian package
// chromium; YGGR_CHROME names another binary) driven through the DevTools
// protocol, against three `yggr serve` processes on loopback. The test
// skips, saying so, when no browser is installed; .ci/run installs one.
//
// YGGR_SCREENSHOTS=dir also writes the screenshots of docs/ into dir.

// browserPath returns the Chromium or Chrome binary to drive, or "".
func browserPath() string {
	if p := os.Getenv("YGGR_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// consoleTab is one browser tab showing a node's console.
type consoleTab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// newBrowser starts a headless browser for the test and returns its first
// tab; it is stopped when the test ends.
func newBrowser(t *testing.T) *consoleTab {
	t.Helper()
	path := browserPath()
	if path == "" {
		t.Skip("skipping the browser tests: no Chromium or Chrome found in PATH (install the Debian package chromium, or set YGGR_CHROME to a browser binary)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a deadline (see chromedp.Run)
		t.Skipf("skipping the browser tests: %s does not start: %v", path, err)
	}
	return &consoleTab{t: t, name: "tab 1", ctx: ctx}
}

// newTab opens another tab of the same browser (its own sessionStorage).
func (b *consoleTab) newTab(name string) *consoleTab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
	return &consoleTab{t: b.t, name: name, ctx: ctx}
}

// do runs actions with a deadline.
func (c *consoleTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.t.Fatalf("%s: %s: %v", c.name, what, err)
	}
}

// eval runs a statement in the page.
func (c *consoleTab) eval(what, js string) {
	c.t.Helper()
	c.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](js)(ctx, t)
		return err
	}))
}

// waitFor waits until the JavaScript expression is truthy in the page, at
// most timeout; on failure it reports what the page shows.
func (c *consoleTab) waitFor(what string, timeout time.Duration, expr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[any](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		sctx, scancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer scancel()
		text, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body.innerText`))
		c.t.Fatalf("%s: %s: not within %v (%v); the page shows:\n%s", c.name, what, timeout, err, text)
	}
}

// screenshot writes the tab's full page to $YGGR_SCREENSHOTS/name.png when
// the variable is set.
func (c *consoleTab) screenshot(name string) {
	c.t.Helper()
	dir := os.Getenv("YGGR_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// signIn opens the console of addr and signs in with token.
func (c *consoleTab) signIn(addr, token string) {
	c.t.Helper()
	c.do("open the console", chromedp.Navigate("http://"+addr+"/ui/"))
	c.waitFor("the login form", 10*time.Second, `!document.getElementById('login').hidden`)
	c.eval("sign in", fmt.Sprintf(`document.getElementById('token').value = %s; document.getElementById('login-form').requestSubmit()`, strconv.Quote(token)))
}

func TestConsoleInBrowser(t *testing.T) {
	browser := newBrowser(t)
	const token = "console-test-token"
	nodes, err := newLocalNodes(yggrBin, t.TempDir(), 3, "console-test-secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.args = append(n.args, "--token", token)
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.kill() })
	}
	for _, n := range nodes {
		waitReady(t, n, 30*time.Second)
	}
	page := nodes[0] // the node whose console the tabs show

	// A wrong token leaves the page at the login form, saying so.
	browser.signIn(page.httpAddr, "not-the-token")
	browser.waitFor("the wrong-token message", 10*time.Second,
		`!document.getElementById('login').hidden && document.getElementById('app').hidden && document.getElementById('login-msg').textContent.includes('Wrong token')`)
	browser.screenshot("console-login")

	// The right token: three members, one of them marked as the leader the
	// cluster agrees on.
	browser.signIn(page.httpAddr, token)
	browser.waitFor("three reachable members and the leader", 10*time.Second,
		`document.querySelectorAll('#members tr[data-reachable="true"]').length === 3 && document.querySelectorAll('#members tr.leader').length === 1`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := httpapi.NewClient([]string{page.httpAddr}, httpapi.ClientOptions{Token: token, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	browser.waitFor("the leader marked", 5*time.Second, fmt.Sprintf(`document.querySelector('#members tr.leader').dataset.id === %s`, strconv.Quote(st.Leader)))

	// A second tab tails console/; a put from the first tab shows in the
	// first tab's key list and in the second tab's tail.
	tail := browser.newTab("tab 2")
	tail.signIn(page.httpAddr, token)
	tail.waitFor("the console", 10*time.Second, `!document.getElementById('app').hidden`)
	tail.eval("start the tail", `document.getElementById('tail-prefix').value = 'console/'; document.getElementById('tail-form').requestSubmit()`)
	tail.waitFor("the tail live", 10*time.Second, `document.getElementById('tail-state').dataset.state === 'live'`)
	browser.eval("put a key", `document.getElementById('prefix').value = 'console/';
		document.getElementById('put-key').value = 'console/greeting';
		document.getElementById('put-value').value = 'hello <b>world</b>';
		document.getElementById('put-form').requestSubmit()`)
	browser.waitFor("the key in the list", 10*time.Second,
		`[...document.querySelectorAll('#keys tr')].some(r => r.cells[0].textContent === 'console/greeting' && r.cells[1].textContent === 'hello <b>world</b>' && r.cells[4].textContent === '1')`)
	tail.waitFor("the put in the tail", 10*time.Second,
		`[...document.querySelectorAll('#tail li')].some(li => li.dataset.type === 'put' && li.textContent.includes('console/greeting = hello <b>world</b>'))`)
	// The value arrived as text: the page made no element of it.
	browser.waitFor("no element from the value", time.Second, `document.querySelectorAll('#keys b, #tail b').length === 0`)
	if os.Getenv("YGGR_SCREENSHOTS") != "" {
		tail.eval("tail every key", `document.getElementById('tail-prefix').value = ''; document.getElementById('tail-form').requestSubmit()`)
		tail.waitFor("the tail live", 10*time.Second, `document.getElementById('tail-state').dataset.state === 'live'`)
		writeSampleData(t, cl)
		browser.eval("browse", `document.getElementById('prefix').value = ''; document.getElementById('browse-form').requestSubmit()`)
		browser.waitFor("the sample keys", 10*time.Second, `document.querySelectorAll('#keys tr').length > 5`)
		browser.screenshot("console")
		tail.screenshot("console-tail")
	}

	// The buttons: take a snapshot, and make another voter the leader.
	browser.eval("take a snapshot", `document.getElementById('snapshot').click()`)
	browser.waitFor("the snapshot's index", 10*time.Second, `/snapshot at index [0-9]+/.test(document.getElementById('action-msg').textContent)`)
	browser.eval("make a follower the leader", `window.transferTarget = (b => { b.click(); return b.closest('tr').dataset.id; })(document.querySelector('#members tr:not(.leader) button'))`)
	browser.waitFor("the new leader", 10*time.Second,
		`(r => r !== null && r.dataset.id === window.transferTarget)(document.querySelector('#members tr.leader')) && document.getElementById('action-msg').textContent === 'leader is now ' + window.transferTarget`)

	// A tail that resumes from a revision the node no longer has stops and
	// says so. Compacting a real node's history takes thousands of writes
	// (the log keeps at least 1000 entries); the server's 410 answer is
	// tested in httpapi, so here the tab's fetch answers the watch with it.
	tail.eval("a watch answered 410 compacted", `const realFetch = window.fetch;
		window.fetch = (url, opts) => String(url).startsWith('/v1/watch')
			? Promise.resolve(new Response(JSON.stringify({error: {status: 410, code: 'compacted', message: 'revision 5 is compacted', oldest: 61}}),
				{status: 410, headers: {'Content-Type': 'application/json'}}))
			: realFetch(url, opts);
		document.getElementById('tail-from').value = '5'; document.getElementById('tail-form').requestSubmit()`)
	tail.waitFor("the compacted state", 10*time.Second,
		`(s => s.dataset.state === 'compacted' && s.textContent.includes('before revision 61'))(document.getElementById('tail-state'))`)

	// Kill another node: the console shows it unreachable within seconds.
	victim := nodes[2]
	if err := victim.kill(); err != nil {
		t.Fatal(err)
	}
	browser.waitFor(victim.id+" unreachable", 5*time.Second,
		fmt.Sprintf(`(r => r && r.dataset.reachable === 'false' && r.textContent.includes('unreachable'))(document.querySelector('#members tr[data-id=%s]'))`, strconv.Quote(victim.id)))
	browser.waitFor("a leader among the two others", 10*time.Second, `document.querySelectorAll('#members tr.leader').length === 1`)
	browser.screenshot("console-unreachable")

	// Kill a second one: the node left has no quorum, and says so.
	if err := nodes[1].kill(); err != nil {
		t.Fatal(err)
	}
	browser.waitFor("the no-leader state", 10*time.Second,
		`(b => !b.hidden && b.dataset.state === 'no-leader')(document.getElementById('banner'))`)
	browser.screenshot("console-no-leader")

	// And the console's own node: the page says it does not answer.
	if err := page.kill(); err != nil {
		t.Fatal(err)
	}
	browser.waitFor("the unreachable state", 10*time.Second,
		`(b => !b.hidden && b.dataset.state === 'unreachable')(document.getElementById('banner'))`)
}

// writeSampleData writes a few keys, one of them binary, for the
// screenshots' charts and key list.
func writeSampleData(t *testing.T, cl *httpapi.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kvs := map[string]string{"config/region": "eu-north-1", "config/replicas": "3", "svc/api/n1": "10.0.0.1:8080",
		"svc/api/n2": "10.0.0.2:8080", "blob/\x00\x01": "\xff\xfe\x00binary"}
	for k, v := range kvs {
		if _, err := cl.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// Some traffic for the charts: writes and reads for a while, paced so
	// that the charts show more than one point.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 600; i++ {
		<-tick.C
		if _, err := cl.Put(ctx, []byte(fmt.Sprintf("load/%02d", i%6)), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		for range i % 4 {
			if _, _, err := cl.Get(ctx, []byte("config/region")); err != nil {
				t.Fatal(err)
			}
		}
	}
}
