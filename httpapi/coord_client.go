package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
)

// coordError is an API error of the lock and election routes that also
// matches the concurrency package's sentinel for its code.
type coordError struct {
	*APIError
	sentinel error
}

func (e coordError) Is(target error) bool { return target == e.sentinel || e.APIError.Is(target) }
func (e coordError) Unwrap() error        { return e.APIError }

// coordErr maps the codes of the lock and election routes: lock_lost
// matches concurrency.ErrLockLost, not_elected concurrency.ErrNotElected,
// no_elected_leader concurrency.ErrNoLeader, lease_not_found
// yggr.ErrLeaseNotFound.
func coordErr(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case CodeLockLost:
		return coordError{ae, concurrency.ErrLockLost}
	case CodeNotElected:
		return coordError{ae, concurrency.ErrNotElected}
	case CodeNoElectedLeader:
		return coordError{ae, concurrency.ErrNoLeader}
	case CodeLeaseNotFound:
		return coordError{ae, yggr.ErrLeaseNotFound}
	}
	return err
}

// Lock takes the lock name for the holder of lease, which the caller
// granted and keeps alive (the lock lasts as long as the lease), and waits
// until it is held, as long as ctx allows: no per-attempt Timeout applies.
// It returns the lock's key and fencing token, which Unlock takes back. If
// ctx ends first, the server gives up the place in the queue.
func (c *Client) Lock(ctx context.Context, name string, lease yggr.LeaseID) (LockKey, error) {
	var out LockKey
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/lock", json: true, blocking: true,
		body: jsonBody(LockRequest{Name: name, Lease: uint64(lease)})}, &out)
	return out, coordErr(err)
}

// Unlock releases a lock Lock returned. It fails with an error matching
// concurrency.ErrLockLost if the lock was lost meanwhile (its lease ended).
func (c *Client) Unlock(ctx context.Context, k LockKey) error {
	return coordErr(c.call(ctx, request{method: http.MethodPost, path: "/v1/unlock", json: true, body: jsonBody(k)}, nil))
}

// Campaign enters the election name with value, for the holder of lease
// (granted and kept alive by the caller), and waits until it leads, as
// long as ctx allows. It returns the leadership, which Proclaim and Resign
// take.
func (c *Client) Campaign(ctx context.Context, name string, lease yggr.LeaseID, value []byte) (LeaderKey, error) {
	if value == nil {
		value = []byte{}
	}
	var out LeaderKey
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/election/campaign", json: true, blocking: true,
		body: jsonBody(CampaignRequest{Name: name, Lease: uint64(lease), Value: value})}, &out)
	return out, coordErr(err)
}

// Proclaim changes the leader's value. It fails with an error matching
// concurrency.ErrNotElected if l no longer leads.
func (c *Client) Proclaim(ctx context.Context, l LeaderKey, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return coordErr(c.call(ctx, request{method: http.MethodPost, path: "/v1/election/proclaim", json: true,
		body: jsonBody(ProclaimRequest{Leader: l, Value: value})}, nil))
}

// Resign gives up the leadership l (nothing if it no longer leads).
func (c *Client) Resign(ctx context.Context, l LeaderKey) error {
	return coordErr(c.call(ctx, request{method: http.MethodPost, path: "/v1/election/resign", json: true,
		body: jsonBody(ResignRequest{Leader: l})}, nil))
}

// Leader returns the current leader of the election name, or an error
// matching concurrency.ErrNoLeader.
func (c *Client) Leader(ctx context.Context, name string) (ElectionLeader, error) {
	var out ElectionLeader
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/election/leader", query: url.Values{"name": {name}}}, &out)
	return out, coordErr(err)
}

// Observe yields the leader of the election name now (if any), then each
// change of leader or of its value, from one node's stream. It runs until
// ctx ends or the loop breaks, and yields one error and stops if the
// stream ends (the node closes or cannot be reached): observe again, on
// another node if need be.
func (c *Client) Observe(ctx context.Context, name string) iter.Seq2[ElectionLeader, error] {
	return func(yield func(ElectionLeader, error) bool) {
		resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/election/observe", query: url.Values{"name": {name}}})
		if err != nil {
			yield(ElectionLeader{}, coordErr(err))
			return
		}
		defer resp.Close()
		resp.stopTimer() // a stream: ctx bounds it
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 2*maxCoordBodySize)
		for sc.Scan() {
			var l ObserveLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				yield(ElectionLeader{}, fmt.Errorf("httpapi: malformed observe line: %v", err))
				return
			}
			switch {
			case l.Error != nil:
				yield(ElectionLeader{}, &APIError{StatusCode: l.Error.Status, Code: l.Error.Code, Message: l.Error.Message})
				return
			case l.Leader == nil:
				yield(ElectionLeader{}, errors.New("httpapi: observe line with neither leader nor error"))
				return
			}
			if !yield(*l.Leader, nil) {
				return
			}
		}
		err = sc.Err()
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if err == nil {
			err = fmt.Errorf("%w: httpapi: the observe stream ended", yggr.ErrClosed)
		}
		yield(ElectionLeader{}, err)
	}
}
