// Package snapshot stores state-machine snapshots as directories of
// fixed-size, checksummed chunks with a manifest.
package snapshot
