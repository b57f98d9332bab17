package engine

import "errors"

// Errors carried by ProposalRejected and ReadFailed actions. The host
// translates them into its own public errors.
var (
	ErrNotLeader          = errors.New("engine: not the leader")
	ErrTransferInProgress = errors.New("engine: leadership transfer in progress")
	ErrBusy               = errors.New("engine: too many pending proposals or reads")
	ErrNotReady           = errors.New("engine: leader has not committed an entry in its term yet")
	ErrSteppedDown        = errors.New("engine: leader stepped down")
	ErrReadTimeout        = errors.New("engine: read round timed out")
	ErrRemoved            = errors.New("engine: node is not a member")
	ErrNoLeader           = errors.New("engine: no leader")
	ErrEmptyProposal      = errors.New("engine: proposal has no data")
)
