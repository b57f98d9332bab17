//go:build !linux

package log

// pageOutValueLog does nothing outside Linux: the value log's pages stay
// resident until the kernel reclaims them (see pageout_linux.go).
func (s *Store) pageOutValueLog() {}
