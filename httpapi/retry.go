package httpapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/yggrdb/yggr"
)

// The Client's retry policy. It is the only one: every request kind
// (Client.do), a watch's reconnections (watchStream.run) and
// KeepAliveLoop's keepalives follow it.
//
// What a failed attempt proves about the request decides (failureOf):
//
//   - refused: the request reached no log, so sending it again cannot
//     apply it twice. The dial failed or the server's certificate was
//     refused (nothing was sent), or the node answered 503 busy or dropped,
//     408 (its body arrived late) or 429.
//   - followed: 503 no_leader or not_leader. Also refused, and the node
//     sends it only after its runtime followed leader changes for its
//     whole budget (internal/node/route.go), so that endpoint is not asked
//     again within the call; another one is, once: the node that answered
//     may be cut off from the majority.
//   - unknown: the request may have been applied. The connection broke
//     after it was sent, the attempt outlived ClientOptions.Timeout, ctx
//     ended while it was in flight, or the node answered 503 closed or
//     storage_failed or a 504.
//   - final: any other answer (2xx, 4xx, 500, 507...), and every answer to
//     Readyz (its 503 is the answer).
//
// Idempotent requests may be sent again whatever the outcome of an
// earlier attempt: GETs (reads, scans, status, a watch, a backup) and
// lease keepalives (renewing twice renews once more, harmlessly). No
// other request is: a put sent again may be applied twice, overwriting a
// write made in between, a delete sent again reports that nothing was
// deleted, a transaction, grant, lock or membership change may run twice.
//
// So after a failure the request goes to the next endpoint (round robin,
// from the one that last answered) when it was refused or followed, or
// when it is idempotent and its outcome unknown; except that an attempt
// timeout or a 504 ends a call (that attempt already spent a whole
// timeout; a watch, bounded by its own WatchRetryFor, reconnects). When
// ctx ends, the call ends with ctx's error (also matching
// yggr.ErrUnknownOutcome if a non-idempotent request was in flight). A
// non-idempotent request whose outcome is unknown is not sent
// again anywhere: the call returns an error matching
// yggr.ErrUnknownOutcome, wrapping the cause (the transport error, the
// timeout, or the *APIError).
//
// Attempts: one pass over the endpoints at once, then a pause
// (retryPause: 250ms for the first, doubling up to 5s per further pass,
// each jittered down by up to half), then the next pass. A call makes at
// most two passes (2×len(endpoints) attempts, fewer when endpoints
// answered followed); when all fail it returns the last *APIError, or
// ErrUnavailable wrapping the last transport error when no endpoint
// answered. A watch keeps making passes (skipping a followed endpoint
// until the pass ends) until ClientOptions.WatchRetryFor passes without a
// stream, and after a stream that delivered something starts a new first
// pass. KeepAliveLoop makes one call per keepalive, at its own pace, and
// stops only on a final 4xx.

// failure is what a failed attempt proves about the request; see above.
type failure uint8

const (
	failFinal failure = iota
	failRefused
	failFollowed
	failUnknown
)

// failureOf classifies err, the transport error or the *APIError of one
// attempt.
func failureOf(err error) failure {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests:
			return failRefused
		case http.StatusServiceUnavailable:
			switch ae.Code {
			case CodeNoLeader, CodeNotLeader:
				return failFollowed
			case CodeBusy, CodeDropped:
				return failRefused
			}
			return failUnknown
		case http.StatusGatewayTimeout:
			return failUnknown
		}
		return failFinal
	}
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &cert) ||
		errors.As(err, &unknownAuthority) || errors.As(err, &hostname) {
		return failRefused
	}
	return failUnknown
}

// idempotent reports whether req may be sent again whatever became of an
// earlier attempt.
func (req request) isIdempotent() bool {
	return req.method == http.MethodGet || req.idempotent
}

// next is the policy's decision after an attempt of req failed with err:
// whether to try the next endpoint, and whether to skip the one that
// answered for the rest of the call. When retry is false, out is the
// error to return.
func next(req request, err error) (retry, skip bool, out error) {
	f := failureOf(err)
	if req.no503Try {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusServiceUnavailable {
			f = failFinal
		}
	}
	var ae *APIError
	spent := errors.Is(err, errAttemptTimeout) || (errors.As(err, &ae) && ae.StatusCode == http.StatusGatewayTimeout)
	switch {
	case f == failFinal:
		return false, false, err
	case f == failUnknown && !req.isIdempotent():
		return false, false, fmt.Errorf("%w: %w", yggr.ErrUnknownOutcome, err)
	case f == failUnknown && spent:
		return false, false, err
	}
	return true, f == failFollowed, nil
}

// retryPause is how long to wait before pass number pass+1 (pass ≥ 1):
// 250ms doubling up to 5s, jittered down by up to half.
func retryPause(pass int) time.Duration {
	d := retryMinPause << min(pass-1, 5)
	d = min(d, retryMaxPause)
	return d/2 + rand.N(d/2+1)
}

const (
	retryMinPause = 250 * time.Millisecond
	retryMaxPause = 5 * time.Second
)

// sleep waits d or until ctx ends, and returns ctx's error if it ended.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
