package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/yggrdb/yggr"
)

// certsCmd groups the certificate subcommands.
type certsCmd struct {
	Init certsInitCmd `cmd:"" help:"Create a cluster CA (ca.crt, ca.key)."`
	Node certsNodeCmd `cmd:"" help:"Issue a node certificate (<id>.crt, <id>.key) signed by the cluster CA."`
}

// Help is the detailed help with examples.
func (c *certsCmd) Help() string {
	return `Peer traffic is QUIC with mutual TLS 1.3: every node presents a certificate
signed by the cluster CA. Instead of files you may give every node the same
--cluster-secret, from which the CA is derived.

Examples:
  yggr certs init --out certs
  yggr certs node --ca-dir certs --id n1 --host 10.0.0.1 --out certs
  yggr serve --id n1 --tls-ca certs/ca.crt --tls-cert certs/n1.crt --tls-key certs/n1.key ...`
}

// certsInitCmd creates a cluster CA.
type certsInitCmd struct {
	Out  string `required:"" help:"Directory to write ca.crt and ca.key to (created if missing)." type:"path"`
	Name string `help:"The cluster's name; the CA certificate's common name is NAME followed by \" CA\"." default:"yggr cluster"`
}

// Help is the detailed help with examples.
func (c *certsInitCmd) Help() string {
	return `Refuses to overwrite an existing ca.key. Keep ca.key secret: whoever holds it
can join the cluster.

Examples:
  yggr certs init --out certs`
}

// Run creates the CA.
func (c *certsInitCmd) Run(e *env) error {
	cert, key, err := yggr.NewClusterCA(c.Name)
	if err != nil {
		return err
	}
	if err := writeKeyPair(c.Out, "ca", cert, key); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "OK %s %s\n", filepath.Join(c.Out, "ca.crt"), filepath.Join(c.Out, "ca.key"))
	return err
}

// certsNodeCmd issues a node certificate.
type certsNodeCmd struct {
	CADir string   `required:"" name:"ca-dir" help:"Directory holding ca.crt and ca.key." type:"existingdir"`
	ID    string   `required:"" help:"The node's ID."`
	Host  []string `required:"" help:"Host names or IP addresses the node is reached at (repeat or comma-separate)."`
	Out   string   `required:"" help:"Directory to write <id>.crt and <id>.key to (created if missing)." type:"path"`
}

// Help is the detailed help with examples.
func (c *certsNodeCmd) Help() string {
	return `Examples:
  yggr certs node --ca-dir certs --id n1 --host 10.0.0.1 --out certs
  yggr certs node --ca-dir certs --id n2 --host n2.internal,10.0.0.2 --out certs`
}

// Run issues the certificate.
func (c *certsNodeCmd) Run(e *env) error {
	caCert, err := os.ReadFile(filepath.Join(c.CADir, "ca.crt"))
	if err != nil {
		return err
	}
	caKey, err := os.ReadFile(filepath.Join(c.CADir, "ca.key"))
	if err != nil {
		return err
	}
	cert, key, err := yggr.NewNodeCert(caCert, caKey, c.ID, c.Host)
	if err != nil {
		return err
	}
	if err := writeKeyPair(c.Out, c.ID, cert, key); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "OK %s %s\n", filepath.Join(c.Out, c.ID+".crt"), filepath.Join(c.Out, c.ID+".key"))
	return err
}

// writeKeyPair writes dir/name.crt (0644) and dir/name.key (0600),
// refusing to overwrite an existing key.
func writeKeyPair(dir, name string, cert, key []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keyPath := filepath.Join(dir, name+".key")
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting it", keyPath)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".crt"), cert, 0o644)
}
