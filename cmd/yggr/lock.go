package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// lockCmd runs a command while holding a lock.
type lockCmd struct {
	clientFlags `embed:""`
	Name        string        `arg:"" help:"The lock's name (its keys live under NAME/)."`
	Command     []string      `arg:"" passthrough:"" help:"The command to run while holding the lock, after --."`
	TTL         time.Duration `name:"ttl" default:"10s" help:"TTL of the lease that holds the lock: if this process dies, the lock is released within about this long."`
	Wait        time.Duration `help:"Give up if the lock is not held within this long (0: wait until interrupted)."`
}

// Help is the detailed help with examples.
func (c *lockCmd) Help() string {
	return `Grants a lease of --ttl and keeps it alive, waits for the lock NAME (fair:
in the order the waiters asked), runs the command while holding it, then
releases the lock and the lease and exits with the command's exit code
(128+N if a signal N ended it). --timeout bounds each call to the cluster,
not the wait for the lock (see --wait) nor the command.

The command gets the lock in its environment: YGGR_LOCK_NAME, YGGR_LOCK_KEY,
YGGR_LEASE and YGGR_LOCK_TOKEN, the fencing token: a number larger than every
earlier holder's. Send it with every write to what the lock protects, and have
that resource refuse a token smaller than the largest it has seen: then a
holder that was paused past its lease (and lost the lock without knowing)
cannot overwrite the work of the next one.

If the lease is lost while the command runs (revoked, or no keepalive got
through within the TTL), the lock may have passed to another holder: the
command is sent SIGTERM and yggr exits with code 4. SIGINT or SIGTERM to yggr
is passed on to the command, and the lock is released once it exits.

Examples:
  yggr lock backups -- ./backup.sh /data
  yggr lock --ttl 30s --wait 1m reports -- sh -c 'make-report --fence "$YGGR_LOCK_TOKEN"'`
}

// commandExit is the exit status of the command `yggr lock` ran: yggr
// exits with it and prints nothing more.
type commandExit struct{ code int }

func (e commandExit) Error() string { return fmt.Sprintf("the command exited with status %d", e.code) }

// Run takes the lock, runs the command, and releases the lock.
func (c *lockCmd) Run(e *env) error {
	if len(c.Command) > 0 && c.Command[0] == "--" {
		c.Command = c.Command[1:] // kong keeps the separator of a passthrough argument
	}
	if len(c.Command) == 0 {
		return usagef("no command to run: yggr lock NAME -- COMMAND [ARG...]")
	}
	if c.Name == "" {
		return usagef("empty lock name")
	}
	if c.TTL < yggr.MinLeaseTTL || c.TTL > yggr.MaxLeaseTTL {
		return usagef("--ttl %v: a lease TTL must be from %v to %v", c.TTL, yggr.MinLeaseTTL, yggr.MaxLeaseTTL)
	}
	if c.Wait < 0 {
		return usagef("--wait %v: negative", c.Wait)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	lease, release, err := c.holdLease(e, cl, c.TTL)
	if err != nil {
		return err
	}

	wctx, cancel := lease.untilLost(e.ctx)
	defer cancel()
	if c.Wait > 0 {
		var stop context.CancelFunc
		wctx, stop = context.WithTimeout(wctx, c.Wait)
		defer stop()
	}
	held, err := cl.Lock(wctx, c.Name, lease.id)
	if err != nil {
		if cause := context.Cause(wctx); cause != nil && errors.Is(err, context.Canceled) {
			err = cause
		}
		if errors.Is(err, context.DeadlineExceeded) && c.Wait > 0 && e.ctx.Err() == nil {
			err = fmt.Errorf("%w: lock %q not held within --wait %v", yggr.ErrTimeout, c.Name, c.Wait)
		}
		return release(err)
	}

	cmd := exec.Command(c.Command[0], c.Command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	cmd.Env = append(os.Environ(),
		"YGGR_LOCK_NAME="+c.Name,
		"YGGR_LOCK_KEY="+string(held.Key),
		fmt.Sprintf("YGGR_LOCK_TOKEN=%d", held.Token),
		fmt.Sprintf("YGGR_LEASE=%d", lease.id))
	if err := cmd.Start(); err != nil {
		c.unlock(cl, held)
		return release(fmt.Errorf("starting the command: %w", err))
	}
	exited := make(chan error, 1)
	// The command's waiter: owned by Run, ends when the command exits.
	go func() { exited <- cmd.Wait() }()
	var lost error
	select {
	case err = <-exited:
	case <-e.ctx.Done():
		terminate(cmd.Process)
		err = <-exited
	case <-lease.done:
		lost = lease.lost()
		terminate(cmd.Process)
		err = <-exited
	}
	if lost != nil {
		return release(fmt.Errorf("lock %q: %w; the command was stopped", c.Name, lost))
	}
	c.unlock(cl, held)
	if rerr := release(nil); rerr != nil {
		return rerr
	}
	if code := exitStatus(err); code != 0 {
		return commandExit{code}
	}
	return nil
}

// unlock releases the lock (best effort: revoking the lease next releases
// it anyway).
func (c *lockCmd) unlock(cl *httpapi.Client, held httpapi.LockKey) {
	ctx, cancel := context.WithTimeout(context.Background(), max(c.Timeout, time.Second))
	defer cancel()
	cl.Unlock(ctx, held)
}

// terminate asks a process to stop: SIGTERM where there are signals,
// otherwise it is killed.
func terminate(p *os.Process) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		p.Kill()
	}
}

// exitStatus is a finished command's exit code: its own, 128+N if signal N
// ended it, 1 if it could not be waited for.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
