package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	Addr    string        `help:"Comma-separated HTTP endpoints of cluster members, tried in turn (default: ${default})." default:"127.0.0.1:7070" placeholder:"HOST:PORT,..."`
	Token   string        `help:"Bearer token, if the server requires one."`
	CACert  string        `name:"cacert" help:"PEM file of the CA that signed the server's HTTPS certificate (implies https)." type:"existingfile" placeholder:"FILE"`
	Output  string        `short:"o" help:"Output format: text or json." enum:"text,json" default:"text"`
	Timeout time.Duration `help:"Overall time limit for the command." default:"10s"`
	// inflight and writeInflight are the client's ClientOptions.Inflight
	// and WriteInflight (0: its defaults); bench sets them from --inflight
	// and --write-inflight.
	inflight, writeInflight int
}

// endpoints splits --addr into URLs (http:// unless a scheme or --cacert
// says otherwise).
func (f *clientFlags) endpoints() ([]string, error) {
	var out []string
	for _, a := range strings.Split(f.Addr, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			scheme := "http://"
			if f.CACert != "" {
				scheme = "https://"
			}
			a = scheme + a
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, usagef("--addr: no endpoints")
	}
	return out, nil
}

// client builds the HTTP client for --addr.
func (f *clientFlags) client() (*httpapi.Client, error) {
	eps, err := f.endpoints()
	if err != nil {
		return nil, err
	}
	return f.clientFor(eps)
}

// clientFor builds a client for the given endpoints with the shared flags.
func (f *clientFlags) clientFor(endpoints []string) (*httpapi.Client, error) {
	// --timeout also bounds how long a watch tries to reconnect (0: until
	// Ctrl-C).
	opts := httpapi.ClientOptions{Token: f.Token, Timeout: f.Timeout, WatchRetryFor: f.Timeout, Inflight: f.inflight, WriteInflight: f.writeInflight}
	if f.Timeout <= 0 {
		opts.WatchRetryFor = -1
	}
	if f.CACert != "" {
		var err error
		if opts.TLS, err = caTLSConfig("--cacert", f.CACert); err != nil {
			return nil, err
		}
	}
	return httpapi.NewClient(endpoints, opts)
}

// caTLSConfig is a client TLS configuration that trusts only the CA
// certificates in the PEM file at path (given by flag).
func caTLSConfig(flag, path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("%s %s: no PEM certificates", flag, path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// call runs fn with a client for --addr and a context bounded by
// --timeout: the shape of a command that makes one request.
func (f *clientFlags) call(e *env, fn func(ctx context.Context, cl *httpapi.Client) error) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := f.context(e)
	defer cancel()
	return fn(ctx, cl)
}

// context bounds the command by --timeout.
func (f *clientFlags) context(e *env) (context.Context, context.CancelFunc) {
	if f.Timeout <= 0 {
		return context.WithCancel(e.ctx)
	}
	return context.WithTimeout(e.ctx, f.Timeout)
}

// json reports whether --output json was asked for.
func (f *clientFlags) json() bool { return f.Output == "json" }

// writeJSON prints v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printOK prints "OK" (text) or the given JSON value.
func (f *clientFlags) printOK(e *env, v any) error {
	if f.json() {
		return writeJSON(e.stdout, v)
	}
	_, err := fmt.Fprintln(e.stdout, "OK")
	return err
}

// isTerminal reports whether w is a character device (a progress bar
// makes sense there, not in a pipe or a file).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parseConsistency reads a --consistency flag.
func parseConsistency(s string) (yggr.Consistency, error) {
	c, err := yggr.ParseConsistency(s)
	if err != nil {
		return 0, usagef("--consistency: %v", err)
	}
	return c, nil
}
