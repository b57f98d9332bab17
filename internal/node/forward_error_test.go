package node

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/yggrdb/yggr/netquic"
)

// TestForwardError: a forward that fails is never a bare transport error:
// a leader that is not a peer (removed, or not known yet) is ErrNoLeader
// (nothing was sent), so is a leader that refused the call unserved
// because it is closing, any other transport failure ErrUnknownOutcome, and
// the caller's own deadline stays a deadline.
func TestForwardError(t *testing.T) {
	unknownPeer := fmt.Errorf("%w: n2", netquic.ErrUnknownPeer)
	lost := errors.New("netquic: call n2: stream reset")
	refused := fmt.Errorf("netquic: call n2: %w", netquic.ErrNoHandler)
	for _, tt := range []struct {
		name                 string
		ctxErr, callErr, err error
		want                 error
		notWant              error
	}{
		{"unknown peer", nil, nil, unknownPeer, ErrNoLeader, ErrUnknownOutcome},
		{"leader closing refused the call", nil, nil, refused, ErrNoLeader, ErrUnknownOutcome},
		{"connection lost", nil, nil, lost, ErrUnknownOutcome, ErrNoLeader},
		{"peer removed mid-call", nil, nil, context.Canceled, ErrUnknownOutcome, context.Canceled},
		{"leader changed", nil, context.Canceled, context.Canceled, ErrUnknownOutcome, context.Canceled},
		{"caller's deadline", context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded, context.DeadlineExceeded, ErrNoLeader},
	} {
		got := forwardError("n2", tt.ctxErr, tt.callErr, tt.err)
		if !errors.Is(got, tt.want) || errors.Is(got, tt.notWant) {
			t.Errorf("%s: got %v, want an error matching %v and not %v", tt.name, got, tt.want, tt.notWant)
		}
	}
}
