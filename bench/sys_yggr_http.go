package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// sysYggrHTTP is the embedded three-node cluster of "yggr" with an httpapi
// handler per node on loopback TCP, driven by httpapi.Client, everything
// in the harness's child process. Its CPU per operation against yggr's is
// what the HTTP path costs (client and server); against yggr-serve's
// server + client, what running the nodes as three processes costs.
const sysYggrHTTP = "yggr-http"

// yggrHTTPSys is sysYggrHTTP: yggrSys's nodes, an http.Server per node
// configured as `yggr serve` configures its own, and the Go client.
type yggrHTTPSys struct {
	// ys is a field, not embedded: only the load goes through HTTP, and
	// the library-only workloads (snapshot's Load) must not be offered.
	ys   *yggrSys
	srvs [3]*http.Server
	api  *httpapi.Client
}

func startYggrHTTP(ctx context.Context, root string) (*yggrHTTPSys, error) {
	ys, err := startYggr(ctx, root)
	if err != nil {
		return nil, err
	}
	s := &yggrHTTPSys{ys: ys}
	var addrs [3]string
	for i, db := range ys.dbs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, err
		}
		addrs[i] = ln.Addr().String()
		// As cmd/yggr serve: a 10 s request timeout, a 10 s header
		// timeout, 2 min idle keep-alive, JSON errors for unparsable
		// requests.
		srv := &http.Server{Handler: httpapi.NewHandler(db, httpapi.Options{RequestTimeout: 10 * time.Second}), ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout: 2 * time.Minute}
		s.srvs[i] = srv
		// Owned by the system; ends when Close shuts the server down.
		go srv.Serve(httpapi.JSONErrorListener(ln))
	}
	l, err := ys.leader(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	eps := []string{addrs[l], addrs[(l+1)%3], addrs[(l+2)%3]}
	if s.api, err = httpapi.NewClient(eps, httpapi.ClientOptions{}); err != nil {
		s.Close()
		return nil, fmt.Errorf("bench: %s client: %w", sysYggrHTTP, err)
	}
	return s, nil
}

func (s *yggrHTTPSys) Put(ctx context.Context, key, value []byte) error {
	_, err := s.api.Put(ctx, key, value)
	return err
}

func (s *yggrHTTPSys) Read(ctx context.Context, mode string, key []byte) error {
	cons, err := yggr.ParseConsistency(mode)
	if err != nil {
		return errUnsupported
	}
	_, _, err = s.api.Get(ctx, key, yggr.WithConsistency(cons))
	return err
}

// StopFollower and Failover are not offered: the system exists to split
// the write and read paths' CPU (yggr and yggr-serve measure the rest).
func (s *yggrHTTPSys) StopFollower(context.Context) (func(context.Context) (time.Duration, time.Duration, error), error) {
	return nil, errUnsupported
}

func (s *yggrHTTPSys) Failover(context.Context) (time.Duration, error) { return 0, errUnsupported }

func (s *yggrHTTPSys) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range s.srvs {
		if srv != nil {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.api != nil {
		s.api.Close()
	}
	errs = append(errs, s.ys.Close())
	return errors.Join(errs...)
}
