package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readCert parses the single PEM certificate in path.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("%s: got %v (rest %q), want exactly one PEM CERTIFICATE block", path, block, rest)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}

// TestCerts: certs init makes a CA, certs node a certificate it signs
// that names the node (common name and yggr://node/ URI) and its hosts;
// keys are private, existing keys are never overwritten.
func TestCerts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs") // created by certs init
	mustRun := func(args ...string) result {
		t.Helper()
		r := runIn(t, "", args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("yggr %v: %v", args, r)
		}
		return r
	}
	r := mustRun("certs", "init", "--out", dir)
	if want := "OK " + filepath.Join(dir, "ca.crt") + " " + filepath.Join(dir, "ca.key") + "\n"; r.stdout != want {
		t.Errorf("certs init: got stdout %q, want %q", r.stdout, want)
	}
	mustRun("certs", "node", "--ca-dir", dir, "--id", "n1", "--host", "127.0.0.1,localhost", "--host", "::1", "--out", dir)
	for name, mode := range map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600, "n1.crt": 0o644, "n1.key": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: got mode %v, want %v", name, got, mode)
		}
	}

	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	if !ca.IsCA || ca.Subject.CommonName != "yggr cluster CA" {
		t.Errorf("ca.crt: got IsCA %v and CN %q, want a CA named \"yggr cluster CA\"", ca.IsCA, ca.Subject.CommonName)
	}
	node := readCert(t, filepath.Join(dir, "n1.crt"))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := node.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("n1.crt for %v: %v", usage, err)
		}
	}
	var uris []string
	for _, u := range node.URIs {
		uris = append(uris, u.String())
	}
	var ips []string
	for _, ip := range node.IPAddresses {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	got := []any{node.Subject.CommonName, uris, node.DNSNames, ips}
	want := []any{"n1", []string{"yggr://node/n1"}, []string{"localhost"}, []string{"127.0.0.1", "::1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("n1.crt names (-want +got):\n%s", diff)
	}
	if err := node.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("n1.crt: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "n1.crt"), filepath.Join(dir, "n1.key"))
	if err != nil {
		t.Fatalf("n1.crt and n1.key: %v", err)
	}
	if pair.Leaf == nil || pair.Leaf.Subject.CommonName != "n1" {
		t.Errorf("n1 key pair: got leaf %v, want n1.crt", pair.Leaf)
	}

	// A named CA, and a node certificate issued into another directory.
	other := t.TempDir()
	mustRun("certs", "init", "--out", other, "--name", "prod")
	if cn := readCert(t, filepath.Join(other, "ca.crt")).Subject.CommonName; cn != "prod CA" {
		t.Errorf("certs init --name prod: got CN %q, want %q", cn, "prod CA")
	}
	out := filepath.Join(other, "nodes")
	r = mustRun("certs", "node", "--ca-dir", other, "--id", "n2", "--host", "n2.internal", "--out", out)
	if want := "OK " + filepath.Join(out, "n2.crt") + " " + filepath.Join(out, "n2.key") + "\n"; r.stdout != want {
		t.Errorf("certs node: got stdout %q, want %q", r.stdout, want)
	}
	if _, err := readCert(t, filepath.Join(out, "n2.crt")).Verify(x509.VerifyOptions{Roots: pool}); err == nil {
		t.Errorf("a certificate of the prod CA verifies against the first CA")
	}

	noKey := t.TempDir()
	if err := os.WriteFile(filepath.Join(noKey, "ca.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args      []string
		wantCode  int
		stderrHas string
	}{
		{[]string{"certs", "init", "--out", dir}, exitError, "ca.key already exists; not overwriting it"},
		{[]string{"certs", "node", "--ca-dir", dir, "--id", "n1", "--host", "127.0.0.1", "--out", dir}, exitError, "n1.key already exists"},
		{[]string{"certs", "node", "--ca-dir", dir, "--id", "bad id!", "--host", "127.0.0.1", "--out", dir}, exitUsage, `invalid node id "bad id!"`},
		{[]string{"certs", "node", "--ca-dir", noKey, "--id", "n3", "--host", "127.0.0.1", "--out", noKey}, exitError, "ca.key"},
		{[]string{"certs", "node", "--ca-dir", filepath.Join(dir, "nope"), "--id", "n3", "--host", "h", "--out", dir}, exitUsage, "nope"},
		{[]string{"certs", "node", "--ca-dir", dir, "--id", "n3", "--out", dir}, exitUsage, "--host"},
		{[]string{"certs", "init"}, exitUsage, "--out"},
		{[]string{"certs"}, exitUsage, "expected one of"},
	}
	for _, tt := range tests {
		r := runIn(t, "", tt.args...)
		if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, tt.stderrHas) || r.stdout != "" {
			t.Errorf("yggr %v: got %v, want exit %d and \"Error: ...%s...\" on stderr only", tt.args, r, tt.wantCode, tt.stderrHas)
		}
	}
	if _, err := os.Stat(filepath.Join(noKey, "n3.key")); err == nil {
		t.Errorf("a failed certs node wrote n3.key")
	}
}
