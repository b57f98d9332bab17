// Package freeport hands out loopback addresses for nodes that must know
// each other's addresses before any of them listens: test clusters, the
// demo's local cluster.
//
// Asking the kernel for port 0 and closing the socket returns a port that
// is free now, but the kernel hands the same ports (its ephemeral range) to
// every other socket bound to port 0, and a QUIC dialer binds one per
// connection. On a machine running many tests at once one of them takes the
// port before the node listens ("bind: address already in use"). The ports
// given here lie below the ephemeral range, where the kernel never
// allocates, so only another process choosing the same port in the same
// instant can take one.
//
// # Usage
//
//	addrs, err := freeport.UDP(3) // "127.0.0.1:24817", ...
//
// # Caveats
//
// A port is free when it is returned; nothing holds it afterwards. Where the
// ephemeral range cannot be read or leaves too little room below it, the
// kernel's port 0 is used instead.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the smallest port handed out: below it lie the well-known and
// commonly configured service ports.
const lowest = 10000

// attempts bounds the random picks per address before falling back to the
// kernel's port 0.
const attempts = 64

var (
	mu     sync.Mutex
	issued = map[string]bool{} // network/port already given out in this process
)

// UDP returns n distinct loopback UDP addresses that are free now.
func UDP(n int) ([]string, error) { return addrs("udp", n) }

// TCP returns n distinct loopback TCP addresses that are free now.
func TCP(n int) ([]string, error) { return addrs("tcp", n) }

func addrs(network string, n int) ([]string, error) {
	high := ephemeralLow()
	out := make([]string, 0, n)
	for range n {
		a, err := pick(network, high)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// pick returns one free address below high, or the kernel's choice when
// none of attempts random ports was free.
func pick(network string, high int) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if high-lowest >= 1000 {
		for range attempts {
			port := lowest + rand.IntN(high-lowest)
			key := network + "/" + strconv.Itoa(port)
			if issued[key] {
				continue
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			if probe(network, addr) != nil {
				continue
			}
			issued[key] = true
			return addr, nil
		}
	}
	return kernelPort(network)
}

// probe binds addr and closes it again: nil means it was free.
func probe(network, addr string) error {
	_, err := bind(network, addr)
	return err
}

// kernelPort returns the address of a port the kernel picks (port 0).
func kernelPort(network string) (string, error) {
	a, err := bind(network, "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("freeport: %w", err)
	}
	return a, nil
}

// bind binds addr on network ("tcp" or "udp"), closes it, and returns the
// address that was bound.
func bind(network, addr string) (string, error) {
	if network == "tcp" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return "", err
	}
	defer pc.Close()
	return pc.LocalAddr().String(), nil
}

// ephemeralLow returns the first port of the kernel's ephemeral range:
// Linux's configured range, else the IANA range's 49152.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 49152
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low < 1 || low > 65535 {
		return 49152
	}
	return low
}
