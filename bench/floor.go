package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"
)

// floorRow turns sorted samples into a floor row.
func floorRow(workload string, lats []time.Duration, l float64, note string) Result {
	slices.Sort(lats)
	return Result{System: "floor", Workload: workload, Ops: int64(len(lats)), P50Ms: pct(lats, 0.5), P99Ms: pct(lats, 0.99), Load1: l, Note: note}
}

// floorFsync measures a 4 KiB append followed by fdatasync in dir, n times.
func floorFsync(dir string, n int) Result {
	return floorFsyncs(dir, n, 1, "fdatasync-4KiB", "append 4 KiB + fdatasync, same disk as the clusters' temp dirs")
}

// floorFsyncShared measures the same append and fdatasync made by three
// writers at once, each on its own file, n in all: what each node's sync
// costs when the three nodes of a cluster share one disk, as they do here.
func floorFsyncShared(dir string, n int) Result {
	return floorFsyncs(dir, n, 3, "fdatasync-4KiB-x3", "append 4 KiB + fdatasync by 3 writers at once (one file each), latency of each")
}

// floorFsyncs runs writers goroutines, each appending 4 KiB and calling
// fdatasync on a file of its own n/writers times, and reports the latency
// of every append+sync.
func floorFsyncs(dir string, n, writers int, workload, note string) Result {
	l := load1()
	per := max(n/writers, 1)
	lats := make([][]time.Duration, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		// Owned by floorFsyncs, which waits for it; ends after per syncs or an error.
		go func() {
			defer wg.Done()
			lats[w], errs[w] = appendSyncs(filepath.Join(dir, fmt.Sprintf("fsync-%d-%d.dat", writers, w)), per)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{System: "floor", Workload: workload, Err: err.Error()}
	}
	return floorRow(workload, slices.Concat(lats...), l, note)
}

// appendSyncs appends 4 KiB to path and fdatasyncs it, n times, and
// returns the latency of each.
func appendSyncs(path string, n int) ([]time.Duration, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	lats := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return nil, err
		}
		lats = append(lats, time.Since(t0))
	}
	return lats, nil
}

// echo copies what it reads back to rw until EOF.
func echoRoundTrips(rw io.ReadWriter, n int) ([]time.Duration, error) {
	msg := make([]byte, 64)
	got := make([]byte, 64)
	lats := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := rw.Write(msg); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(rw, got); err != nil {
			return nil, err
		}
		lats = append(lats, time.Since(t0))
	}
	return lats, nil
}

// floorTCP measures a 64-byte echo round trip over loopback TCP.
func floorTCP(n int) Result {
	l := load1()
	fail := func(err error) Result { return Result{System: "floor", Workload: "rtt-tcp", Err: err.Error()} }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	done := make(chan struct{})
	// Owned by floorTCP; ends when the client closes its connection.
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-done
		return fail(err)
	}
	lats, err := echoRoundTrips(c, n)
	c.Close()
	ln.Close()
	<-done
	if err != nil {
		return fail(err)
	}
	return floorRow("rtt-tcp", lats, l, "64 B echo over loopback TCP, one connection")
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// floorQUIC measures a 64-byte echo round trip on one quic-go stream over
// loopback with a self-signed TLS 1.3 certificate.
func floorQUIC(n int) Result {
	l := load1()
	fail := func(err error) Result { return Result{System: "floor", Workload: "rtt-quic", Err: err.Error()} }
	cert, err := selfSigned()
	if err != nil {
		return fail(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"bench"}}, nil)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	// Owned by floorQUIC; ends when the stream is closed or ctx ends.
	go func() {
		defer close(done)
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer c.CloseWithError(0, "")
		s, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		io.Copy(s, s)
		s.Close()
	}()
	finish := func() {
		ln.Close()
		cancel()
		<-done
	}
	conn, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"bench"}}, nil)
	if err != nil {
		finish()
		return fail(err)
	}
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
		finish()
		return fail(err)
	}
	lats, err := echoRoundTrips(s, n)
	s.Close()
	conn.CloseWithError(0, "")
	finish()
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(err)
	}
	return floorRow("rtt-quic", lats, l, "64 B echo on one quic-go stream over loopback, TLS 1.3 self-signed")
}
