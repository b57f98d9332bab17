//go:build race

package yggr

// raceEnabled: the race detector slows the cluster tests about 4x; the
// longest of them scale down.
const raceEnabled = true
