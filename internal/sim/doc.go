// Package sim is a deterministic cluster simulator for the engine.
package sim
