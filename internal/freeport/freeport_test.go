package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Every address is distinct, on loopback, below the kernel's ephemeral
// range, and can be bound once returned.
func TestAddressesAreFreeAndBelowEphemeral(t *testing.T) {
	high := ephemeralLow()
	for _, network := range []string{"udp", "tcp"} {
		got, err := addrs(network, 20)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, a := range got {
			if seen[a] {
				t.Fatalf("%s: %s handed out twice", network, a)
			}
			seen[a] = true
			host, port, err := net.SplitHostPort(a)
			if err != nil || host != "127.0.0.1" {
				t.Fatalf("%s: %q is not a loopback address (%v)", network, a, err)
			}
			if p, _ := strconv.Atoi(port); high-lowest >= 1000 && (p < lowest || p >= high) {
				t.Fatalf("%s: port %d outside [%d, %d)", network, p, lowest, high)
			}
			if err := probe(network, a); err != nil {
				t.Fatalf("%s: %s is not free: %v", network, a, err)
			}
		}
	}
}

// A bound port fails the probe, so it is never handed out; with no room
// below the range the kernel's choice is returned.
func TestTakenPortFailsProbe(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		got, err := addrs(network, 1)
		if err != nil {
			t.Fatal(err)
		}
		var closer interface{ Close() error }
		if network == "udp" {
			closer, err = net.ListenPacket("udp", got[0])
		} else {
			closer, err = net.Listen("tcp", got[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		if probe(network, got[0]) == nil {
			t.Errorf("%s: probe of bound %s succeeded", network, got[0])
		}
		closer.Close()
	}
	a, err := pick("udp", lowest)
	if err != nil {
		t.Fatal(err)
	}
	if err := probe("udp", a); err != nil {
		t.Fatalf("kernel's port %s is not free: %v", a, err)
	}
}
