package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// leaseCmd groups the lease subcommands.
type leaseCmd struct {
	Grant     leaseGrantCmd     `cmd:"" help:"Grant a lease with a TTL and print its ID."`
	Keepalive leaseKeepaliveCmd `cmd:"" help:"Keep a lease alive until interrupted (--once: renew it once)."`
	Revoke    leaseRevokeCmd    `cmd:"" help:"Revoke a lease, deleting every key attached to it."`
	TTL       leaseTTLCmd       `cmd:"" name:"ttl" help:"Show a lease's TTL, the time it has left, and its keys (--keys)."`
	List      leaseListCmd      `cmd:"" help:"List the live leases."`
}

// Help is the detailed help with examples.
func (c *leaseCmd) Help() string {
	return `A lease is a TTL that keys can be attached to (put --lease ID, or put --ttl
to grant one and attach in one go). Unless it is kept alive, the leader
revokes it once its TTL passes, and revoking it deletes all its keys at one
revision. Keep it alive at least once per TTL ('yggr lease keepalive ID' does,
every TTL/3). A lease ID is the log index of its grant. A lease that was never
granted, was revoked or has expired exits with code 3; a TTL outside 1ms to
720h (30 days) with code 2.

Examples:
  id=$(yggr lease grant 10s)
  yggr put svc/n1 10.0.0.1:8080 --lease $id
  yggr lease keepalive $id &
  yggr lease ttl --keys $id
  yggr lease revoke $id`
}

// leaseOutput is the JSON output of grant and keepalive: the lease's ID
// and its TTL in milliseconds, as the HTTP API answers.
type leaseOutput = httpapi.LeaseResponse

// leaseNotFound adds the lease's ID to an error that says it is gone.
func leaseNotFound(id yggr.LeaseID, err error) error {
	if errors.Is(err, yggr.ErrLeaseNotFound) && !strings.Contains(err.Error(), fmt.Sprintf("lease %d", id)) {
		return fmt.Errorf("lease %d: %w", id, err)
	}
	return err
}

// leaseGrantCmd grants a lease.
type leaseGrantCmd struct {
	clientFlags `embed:""`
	TTL         time.Duration `arg:"" name:"ttl" help:"The lease's TTL, a duration from 1ms to 720h (for example 10s)."`
}

// Help is the detailed help with examples.
func (c *leaseGrantCmd) Help() string {
	return `Prints the new lease's ID. The lease lives for TTL unless it is kept alive.

Examples:
  yggr lease grant 10s
  yggr lease grant -o json 1m`
}

// Run grants the lease.
func (c *leaseGrantCmd) Run(e *env) error {
	if c.TTL < yggr.MinLeaseTTL || c.TTL > yggr.MaxLeaseTTL {
		return usagef("TTL %v: a lease TTL must be from %v to %v", c.TTL, yggr.MinLeaseTTL, yggr.MaxLeaseTTL)
	}
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		id, err := cl.Grant(ctx, c.TTL)
		if err != nil {
			return err
		}
		if c.json() {
			return writeJSON(e.stdout, leaseOutput{ID: id, TTLMillis: c.TTL.Milliseconds()})
		}
		_, err = fmt.Fprintln(e.stdout, id)
		return err
	})
}

// leaseKeepaliveCmd keeps a lease alive.
type leaseKeepaliveCmd struct {
	clientFlags `embed:""`
	ID          yggr.LeaseID `arg:"" help:"The lease's ID."`
	Once        bool         `help:"Renew the lease once and exit."`
}

// Help is the detailed help with examples.
func (c *leaseKeepaliveCmd) Help() string {
	return `Renews the lease for a full TTL and prints that TTL. Without --once it then
keeps renewing it every TTL/3 until Ctrl-C or SIGTERM (exit 0), printing
nothing more; if the lease is revoked or expires meanwhile (for example because
no endpoint could be reached for a whole TTL) it exits with code 3. Failures
that may pass (no leader, an endpoint down) are retried at the same pace, on
every --addr endpoint; --timeout bounds only the first renewal.

Examples:
  yggr lease keepalive 42
  yggr lease keepalive --once 42`
}

// Run renews the lease, then keeps it alive unless --once.
func (c *leaseKeepaliveCmd) Run(e *env) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := c.context(e)
	ttl, err := cl.KeepAlive(ctx, c.ID)
	cancel()
	if err != nil {
		return leaseNotFound(c.ID, err)
	}
	if c.json() {
		err = writeJSON(e.stdout, leaseOutput{ID: c.ID, TTLMillis: ttl.Milliseconds()})
	} else {
		_, err = fmt.Fprintln(e.stdout, ttl)
	}
	if err != nil || c.Once {
		return err
	}
	err = cl.KeepAliveLoop(e.ctx, c.ID, ttl)
	if e.ctx.Err() != nil {
		return nil // Ctrl-C or SIGTERM: the normal end
	}
	return leaseNotFound(c.ID, err)
}

// leaseRevokeCmd revokes a lease.
type leaseRevokeCmd struct {
	clientFlags `embed:""`
	ID          yggr.LeaseID `arg:"" help:"The lease's ID."`
}

// Help is the detailed help with examples.
func (c *leaseRevokeCmd) Help() string {
	return `Deletes the lease and every key attached to it, at one revision, and prints
OK. A lease that does not exist (never granted, already revoked or expired)
exits with code 3.

Examples:
  yggr lease revoke 42`
}

// Run revokes the lease.
func (c *leaseRevokeCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		if err := cl.Revoke(ctx, c.ID); err != nil {
			return leaseNotFound(c.ID, err)
		}
		return c.printOK(e, map[string]yggr.LeaseID{"revoked": c.ID})
	})
}

// leaseTTLCmd shows a lease's TTL.
type leaseTTLCmd struct {
	clientFlags `embed:""`
	ID          yggr.LeaseID `arg:"" help:"The lease's ID."`
	Keys        bool         `help:"Also list the keys attached to the lease."`
}

// Help is the detailed help with examples.
func (c *leaseTTLCmd) Help() string {
	return `Prints the lease's TTL as granted and the time it has left by the leader's
clock; with --keys, then a KEYS line and the attached keys in key order, one
a line (quoted as Go strings when they hold spaces, quotes or unprintable
bytes). -o json prints {"id","ttl_ms","remaining_ms","keys"} as
GET /v1/leases/{id} does (keys in base64).

Examples:
  yggr lease ttl 42
  yggr lease ttl --keys 42`
}

// Run shows the lease.
func (c *leaseTTLCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		info, err := cl.TimeToLive(ctx, c.ID)
		if err != nil {
			return leaseNotFound(c.ID, err)
		}
		if c.json() {
			out := httpapi.TimeToLiveResponse{ID: info.ID, TTLMillis: info.TTL.Milliseconds(), RemainingMillis: info.Remaining.Milliseconds()}
			if c.Keys {
				out.Keys = info.Keys
				if out.Keys == nil {
					out.Keys = [][]byte{}
				}
			}
			return writeJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTTL\tREMAINING")
		fmt.Fprintf(tw, "%d\t%v\t%v\n", info.ID, info.TTL, info.Remaining)
		if err := tw.Flush(); err != nil {
			return err
		}
		if !c.Keys {
			return nil
		}
		b := []byte("KEYS\n")
		for _, k := range info.Keys {
			b = append(appendShown(b, k), '\n')
		}
		_, err = e.stdout.Write(b)
		return err
	})
}

// leaseListCmd lists the leases.
type leaseListCmd struct {
	clientFlags `embed:""`
}

// Help is the detailed help with examples.
func (c *leaseListCmd) Help() string {
	return `Prints every live lease, in ID order, with its TTL as granted.

Examples:
  yggr lease list
  yggr lease list -o json`
}

// Run lists the leases.
func (c *leaseListCmd) Run(e *env) error {
	return c.call(e, func(ctx context.Context, cl *httpapi.Client) error {
		ls, err := cl.Leases(ctx)
		if err != nil {
			return err
		}
		if c.json() {
			out := make([]leaseOutput, len(ls))
			for i, l := range ls {
				out[i] = leaseOutput{ID: l.ID, TTLMillis: l.TTL.Milliseconds()}
			}
			return writeJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTTL")
		for _, l := range ls {
			fmt.Fprintf(tw, "%d\t%v\n", l.ID, l.TTL)
		}
		return tw.Flush()
	})
}
