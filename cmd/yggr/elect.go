package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// electCmd campaigns in an election, or observes it.
type electCmd struct {
	clientFlags `embed:""`
	Name        string        `arg:"" help:"The election's name (its keys live under NAME/)."`
	Value       *string       `arg:"" optional:"" help:"The value to lead with (for example this process's address)."`
	Listen      bool          `short:"l" help:"Do not campaign: print the leader's value now and at each change, until interrupted."`
	TTL         time.Duration `name:"ttl" default:"10s" help:"TTL of the lease that holds the candidacy: if this process dies, another candidate leads within about this long."`
}

// Help is the detailed help with examples.
func (c *electCmd) Help() string {
	return `Without -l: grants a lease of --ttl and keeps it alive, campaigns with VALUE
and waits until elected (the candidates that campaigned earlier lead first),
then prints the leader's key and value, one per line, and leads until
interrupted: on SIGINT or SIGTERM it resigns, revokes its lease and exits 0.
If the lease is lost meanwhile (revoked, or no keepalive got through within
the TTL), another candidate may lead: it exits with code 4.

With -l: prints the current leader's value, then each new leader's or new
value, one per line (-o json: one JSON object per line with key, value, rev
and mod_index), until interrupted.

Examples:
  yggr elect scheduler "$(hostname)"
  yggr elect -l scheduler`
}

// Run campaigns (or observes).
func (c *electCmd) Run(e *env) error {
	if c.Name == "" {
		return usagef("empty election name")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.Listen {
		if c.Value != nil {
			return usagef("-l observes: it takes no VALUE")
		}
		return c.observe(e, cl)
	}
	if c.Value == nil {
		return usagef("no VALUE to campaign with (or -l to observe)")
	}
	if c.TTL < yggr.MinLeaseTTL || c.TTL > yggr.MaxLeaseTTL {
		return usagef("--ttl %v: a lease TTL must be from %v to %v", c.TTL, yggr.MinLeaseTTL, yggr.MaxLeaseTTL)
	}
	lease, release, err := c.holdLease(e, cl, c.TTL)
	if err != nil {
		return err
	}
	wctx, cancel := lease.untilLost(e.ctx)
	defer cancel()
	leader, err := cl.Campaign(wctx, c.Name, lease.id, []byte(*c.Value))
	if err != nil {
		if e.ctx.Err() != nil {
			return release(nil) // interrupted while campaigning: a normal end
		}
		if cause := context.Cause(wctx); cause != nil && errors.Is(err, context.Canceled) {
			err = cause
		}
		return release(err)
	}
	if c.json() {
		err = writeJSON(e.stdout, leader)
	} else {
		_, err = fmt.Fprintf(e.stdout, "%s\n%s\n", leader.Key, *c.Value)
	}
	if err != nil {
		return release(err)
	}
	select {
	case <-e.ctx.Done():
		rctx, cancel := context.WithTimeout(context.Background(), max(c.Timeout, time.Second))
		defer cancel()
		cl.Resign(rctx, leader) // the revoke below resigns anyway
		return release(nil)
	case <-lease.done:
		return release(fmt.Errorf("election %q: leadership %w", c.Name, lease.lost()))
	}
}

// observe prints the leader's value at each change until interrupted.
func (c *electCmd) observe(e *env, cl *httpapi.Client) error {
	for l, err := range cl.Observe(e.ctx, c.Name) {
		if err != nil {
			if e.ctx.Err() != nil {
				return nil // interrupted: the normal end
			}
			return err
		}
		if c.json() {
			err = writeJSON(e.stdout, l)
		} else {
			_, err = fmt.Fprintf(e.stdout, "%s\n", l.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
