package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/yggrdb/yggr"
)

// The lease methods of Client have the names and shapes of yggr.DB's, so
// that code moves between an embedded database and a sidecar by changing
// the receiver. Their errors match the same sentinels with errors.Is:
// yggr.ErrLeaseNotFound for a lease never granted, revoked or expired,
// yggr.ErrLeaseTTL (and yggr.ErrInvalid) for a TTL out of range.

// leasePath is the path of lease id's routes.
func leasePath(id yggr.LeaseID) string {
	return "/v1/leases/" + strconv.FormatUint(uint64(id), 10)
}

// Grant creates a lease with the given TTL and returns its ID, as
// yggr.DB.Grant (which states the guarantee). The TTL is kept in whole
// milliseconds; one outside yggr.MinLeaseTTL..yggr.MaxLeaseTTL is an
// error matching yggr.ErrLeaseTTL, found before anything is sent. A
// grant is not idempotent: one whose connection broke after it was sent
// is not sent again, and fails with an error matching
// yggr.ErrUnknownOutcome (a lease granted then expires after its TTL,
// with no keys).
func (c *Client) Grant(ctx context.Context, ttl time.Duration) (yggr.LeaseID, error) {
	if ttl < yggr.MinLeaseTTL || ttl > yggr.MaxLeaseTTL {
		return 0, errLeaseTTL(ttl.String())
	}
	var out LeaseResponse
	body := jsonBody(GrantRequest{TTLMillis: millis(ttl)})
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/leases", body: body, json: true}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// KeepAlive renews the lease for a full TTL, counted from when the leader
// serves it, and returns the TTL, as yggr.DB.KeepAlive. It fails with an
// error matching yggr.ErrLeaseNotFound once the lease is revoked or has
// expired. A keepalive is idempotent for the retry policy (Client): it is
// sent again to the next endpoint, like a GET, even when an earlier
// attempt may have renewed the lease (renewing twice is harmless).
func (c *Client) KeepAlive(ctx context.Context, id yggr.LeaseID) (time.Duration, error) {
	var out LeaseResponse
	if err := c.call(ctx, request{method: http.MethodPost, path: leasePath(id) + "/keepalive", idempotent: true}, &out); err != nil {
		return 0, err
	}
	return time.Duration(out.TTLMillis) * time.Millisecond, nil
}

// KeepAliveLoop keeps the lease alive every ttl/3 until ctx ends or a
// keepalive fails for good, and returns why it stopped: ctx's error, or
// the keepalive's. As yggr.DB.KeepAliveLoop: it sends the first keepalive
// at once, bounds each by ttl/3, stops for good on yggr.ErrLeaseNotFound
// (the lease was revoked or expired: its keys are gone) and on any other
// answer that retrying cannot change (a 4xx: a wrong token, a bad
// request: a final 4xx of the retry policy, see Client), and retries
// every other failure at the same pace: no endpoint answered, no leader,
// a timeout, a node closing (another endpoint may serve; only the
// database's own DB.KeepAliveLoop stops on ErrClosed).
// ttl is the lease's TTL as granted; one out of range is an error
// matching yggr.ErrLeaseTTL.
func (c *Client) KeepAliveLoop(ctx context.Context, id yggr.LeaseID, ttl time.Duration) error {
	if ttl < yggr.MinLeaseTTL || ttl > yggr.MaxLeaseTTL {
		return errLeaseTTL(ttl.String())
	}
	every := max(ttl/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		_, err := c.KeepAlive(cctx, id)
		cancel()
		if final(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// final reports whether a keepalive's error ends KeepAliveLoop: an answer
// the retry policy (retry.go) calls final, in the 4xx range. A final 5xx
// (500, 507) is the answering node's failure: the loop tries again.
func final(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && failureOf(err) == failFinal && ae.StatusCode/100 == 4
}

// Revoke deletes the lease and every key attached to it, at one log
// index, as yggr.DB.Revoke. Revoking a lease that does not exist fails
// with an error matching yggr.ErrLeaseNotFound. A revoke is not
// idempotent for the retry policy (Client): one whose answer was lost
// fails with an error matching yggr.ErrUnknownOutcome; a caller that only
// wants the lease gone may revoke again and treat ErrLeaseNotFound as
// success.
func (c *Client) Revoke(ctx context.Context, id yggr.LeaseID) error {
	return c.call(ctx, request{method: http.MethodDelete, path: leasePath(id)}, nil)
}

// TimeToLive returns the lease's TTL as granted, the time it has left by
// the leader's clock, and its keys in key order, as yggr.DB.TimeToLive,
// or an error matching yggr.ErrLeaseNotFound.
func (c *Client) TimeToLive(ctx context.Context, id yggr.LeaseID) (yggr.LeaseInfo, error) {
	var out TimeToLiveResponse
	req := request{method: http.MethodGet, path: leasePath(id), query: url.Values{"keys": {"true"}}}
	if err := c.call(ctx, req, &out); err != nil {
		return yggr.LeaseInfo{}, err
	}
	return yggr.LeaseInfo{
		ID:        out.ID,
		TTL:       time.Duration(out.TTLMillis) * time.Millisecond,
		Remaining: time.Duration(out.RemainingMillis) * time.Millisecond,
		Keys:      out.Keys,
	}, nil
}

// Leases returns every live lease (ID and TTL) in ID order, read
// linearizably, as yggr.DB.Leases.
func (c *Client) Leases(ctx context.Context) ([]yggr.LeaseInfo, error) {
	var out LeasesResponse
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/leases"}, &out); err != nil {
		return nil, err
	}
	ls := make([]yggr.LeaseInfo, len(out.Leases))
	for i, l := range out.Leases {
		ls[i] = yggr.LeaseInfo{ID: l.ID, TTL: time.Duration(l.TTLMillis) * time.Millisecond}
	}
	return ls, nil
}
