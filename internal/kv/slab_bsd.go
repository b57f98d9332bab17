//go:build darwin || freebsd || netbsd || openbsd

package kv

// mapPopulate: no MAP_POPULATE outside Linux; pages fault in as written.
const mapPopulate = 0
