//go:build !race

package yggr

// raceEnabled: see race_on_test.go.
const raceEnabled = false
