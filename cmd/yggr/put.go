package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// putCmd sets a key.
type putCmd struct {
	clientFlags `embed:""`
	Key         string         `arg:"" help:"The key."`
	Value       *string        `arg:"" optional:"" help:"The value; read from stdin when omitted."`
	TTL         *time.Duration `name:"ttl" help:"Grant a lease of this TTL, attach the key to it and print its ID: without 'yggr lease keepalive ID' the key is deleted once the TTL passes." placeholder:"DURATION" xor:"lease"`
	Lease       uint64         `help:"Attach the key to this existing lease (see 'yggr lease grant')." placeholder:"ID" xor:"lease"`
}

// Help is the detailed help with examples.
func (c *putCmd) Help() string {
	return `Prints OK once the write is committed on a majority and applied.

With --ttl it grants a lease of that TTL, attaches the key to it and prints the
lease's ID instead of OK. Nothing keeps that lease alive: the key is deleted
once the TTL passes, unless 'yggr lease keepalive ID' runs meanwhile. With
--lease the key joins an existing lease (a missing, revoked or expired lease
exits with code 3 and writes nothing). A put without either detaches the key
from any lease it had. -o json prints {"index":N} and "lease" with either.

Examples:
  yggr put greeting hello
  echo -n hello | yggr put greeting
  yggr put config < config.json
  yggr put svc/n1 10.0.0.1:8080 --ttl 10s
  yggr put svc/n1/port 8080 --lease 42`
}

// putOutput is put's JSON output.
type putOutput struct {
	Index uint64       `json:"index"`
	Lease yggr.LeaseID `json:"lease,omitempty"`
}

// maxStdinValue bounds a value read from stdin (the server enforces its
// own, usually smaller, limit).
const maxStdinValue = 64 << 20

// Run writes the key.
func (c *putCmd) Run(e *env) error {
	var value []byte
	if c.Value != nil {
		value = []byte(*c.Value)
	} else {
		v, err := io.ReadAll(io.LimitReader(e.stdin, maxStdinValue+1))
		if err != nil {
			return err
		}
		if len(v) > maxStdinValue {
			return yggr.ErrTooLarge
		}
		value = v
	}
	if c.TTL != nil && (*c.TTL < yggr.MinLeaseTTL || *c.TTL > yggr.MaxLeaseTTL) {
		return usagef("--ttl %v: a lease TTL must be from %v to %v", *c.TTL, yggr.MinLeaseTTL, yggr.MaxLeaseTTL)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	defer cancel()
	lease := yggr.LeaseID(c.Lease)
	if c.TTL != nil {
		if lease, err = cl.Grant(ctx, *c.TTL); err != nil {
			return fmt.Errorf("granting a lease of %v: %w", *c.TTL, err)
		}
	}
	index, err := cl.Put(ctx, []byte(c.Key), value, yggr.WithLease(lease))
	if err != nil {
		if c.TTL != nil {
			c.revokeUnused(e, cl, lease)
		}
		if errors.Is(err, yggr.ErrLeaseNotFound) {
			return fmt.Errorf("lease %d: %w", lease, err)
		}
		return err
	}
	out := putOutput{Index: index, Lease: lease}
	switch {
	case c.json():
		return writeJSON(e.stdout, out)
	case c.TTL != nil:
		_, err = fmt.Fprintln(e.stdout, lease)
		return err
	}
	return c.printOK(e, out)
}

// revokeUnused revokes the lease put --ttl granted for a put that failed,
// so that it does not linger for its TTL; failing that, it says so.
func (c *putCmd) revokeUnused(e *env, cl *httpapi.Client, lease yggr.LeaseID) {
	d := 5 * time.Second
	if c.Timeout > 0 {
		d = min(d, c.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), d)
	defer cancel()
	if err := cl.Revoke(ctx, lease); err != nil && !errors.Is(err, yggr.ErrLeaseNotFound) {
		fmt.Fprintf(e.stderr, "Warning: lease %d granted for the failed put was not revoked (it expires after %v): %v\n", lease, *c.TTL, err)
	}
}
