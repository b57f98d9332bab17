package engine

import "errors"

// Errors carried by ProposalRejected and ReadFailed actions. The host
// translates them into its own public errors.
var (
	ErrNotLeader          = errors.New("engine: not the leader")
	ErrTransferInProgress = errors.New("engine: leadership transfer in progress")
	ErrBusy               = errors.New("engine: too many pending proposals or reads")
	ErrSteppedDown        = errors.New("engine: leader stepped down")
	ErrReadTimeout        = errors.New("engine: read round timed out")
	ErrNoLeader           = errors.New("engine: no leader")
)
