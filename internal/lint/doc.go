// Package lint holds tests that enforce yggr's architecture: the package
// dependency table of DESIGN.md, checked by `go test ./...` rather than by
// memory.
package lint
