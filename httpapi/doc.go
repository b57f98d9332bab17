// Package httpapi is yggr's HTTP API: the handler `yggr serve` mounts (an
// application may mount the same handler in its own server) and the Go
// client the CLI uses.
//
// # Routes
//
//	PUT    /v1/kv/{key}?lease=ID         body = value → 200 {"index":N} (lease: attach the key to lease ID)
//	GET    /v1/kv/{key}?consistency=linearizable|lease|stale&min_index=N
//	                                     → 200 raw value, X-Yggr-Index = the item's mod index
//	DELETE /v1/kv/{key}                  → 200 {"index":N,"deleted":bool}
//	GET    /v1/kv?prefix=&start=&end=&limit=&consistency=&min_index=
//	                                     → 200 {"items":[{"key","value","mod_index","create_index","version"}],"more":bool,"revision":N}
//	POST   /v1/txn                       TxnRequest → TxnResponse (a put may carry "lease":ID)
//	POST   /v1/batch                     BatchRequest → BatchResponse: independent puts, gets and deletes in
//	                                     one request, each run as if sent alone, each with its own result or
//	                                     error (not a transaction; see BatchRequest)
//	POST   /v1/leases                    {"ttl_ms":N} → {"id":ID,"ttl_ms":N}
//	POST   /v1/leases/{id}/keepalive     → {"id":ID,"ttl_ms":N} (renewed for a full TTL)
//	GET    /v1/leases/{id}?keys=         → {"id":ID,"ttl_ms":N,"remaining_ms":N,"keys":[...]} (keys with keys=true)
//	DELETE /v1/leases/{id}               → {} (the lease and its keys are deleted at one revision)
//	GET    /v1/leases?consistency=&min_index=
//	                                     → {"leases":[{"id":ID,"ttl_ms":N}]} in ID order
//	GET    /v1/status                    yggr.Status
//	GET    /v1/members                   {"members":[yggr.Member]}
//	GET    /v1/cluster                   ClusterResponse: every member's own status (role, term, commit,
//	                                     applied, last index, lag), asked over the peer connections;
//	                                     a member that does not answer within 1s is "reachable":false
//	POST   /v1/members                   {"id","addr","learner"} → {} (the node at addr must hold the cluster's credentials: DB.VerifyPeer)
//	POST   /v1/members/{id}/promote      → {}
//	DELETE /v1/members/{id}              → {}
//	POST   /v1/leader/transfer           {"to":""} → {"leader":id}
//	POST   /v1/snapshot                  → {"index":N}
//	GET    /v1/backup                    the backup stream; trailer X-Yggr-Index
//	GET    /v1/watch?prefix=&start=&end=&from=&prev=&progress=
//	                                     → 200 a stream of changes, one JSON line each (see Watch)
//	POST   /v1/lock                      {"name","lease"} → waits until held → LockKey {"name","key","token","lease"}
//	POST   /v1/unlock                    LockKey → {} (409 lock_lost if the lock was lost)
//	POST   /v1/election/campaign         {"name","lease","value"} → waits until elected → LeaderKey {"name","key","rev","lease"}
//	POST   /v1/election/proclaim         {"leader":LeaderKey,"value"} → {} (409 not_elected)
//	POST   /v1/election/resign           {"leader":LeaderKey} → {}
//	GET    /v1/election/leader?name=     → {"key","value","rev","mod_index"} (404 no_elected_leader)
//	GET    /v1/election/observe?name=    → a stream of ObserveLine, one JSON line per leader change
//	GET    /metrics                      Prometheus text
//	GET    /healthz                      200 while the process serves
//	GET    /readyz                       200 if a leader is known and applied is within 1000 of commit, else 503
//	                                     (storage_failed: the node's disk failed and it stopped;
//	                                     storage_stalled: a write has not finished for an election timeout)
//	GET    /ui/                          the browser console (embedded files; /ui redirects here)
//
// {key} is the percent-encoded key: any bytes, "/" included (as %2F or
// literally). Keys and values inside JSON are standard base64, as
// encoding/json encodes []byte. Query parameters are strict: unknown or
// repeated ones are errors.
//
// Errors are {"error":{"code":"...","message":"..."}} with status 400 (bad
// input; lease_ttl for a TTL out of range), 401 (missing or wrong bearer
// token), 404 (no such key or route; lease_not_found for a lease never
// granted, revoked or expired),
// 405 (wrong method, with Allow), 409 (membership change refused, transfer
// in progress), 408 (the body did not arrive within RequestTimeout), 410 (a
// watch from a compacted revision), 413
// (key, value or body beyond the limits), 503 (no leader,
// busy, too many watchers, closing, or the leader cannot be reached; with Retry-After: 1), 504
// (timeout, cancelled, or unknown_outcome after a leader change: a write
// may still be applied), 507 (the leader's disk is below its free-space
// reserve), 500 otherwise (corrupt data, a bug); the codes are the Code*
// constants.
//
// # Watch
//
// GET /v1/watch streams the changes to the keys in a range, as
// yggr.DB.Watch yields them: prefix, start and end select the range as in
// a scan; from is the first revision (default: the node's next one); prev
// (true or false; alone: true) adds each key's previous item; progress (a
// duration from 100ms to 1h) asks for a progress line whenever that long
// passes without a change. The response is newline-delimited JSON
// (application/x-ndjson), one WatchLine per line, flushed as it happens:
//
//	{"revision":41,"progress":true}                       the start: every change before 42 is behind
//	{"revision":42,"events":[{"type":"put","item":{...},"prev":{...}}]}
//	{"revision":43,"events":[{"type":"delete","item":{"key":"...","mod_index":43}}]}
//	{"revision":50,"progress":true}                       nothing else in the range up to 50
//	{"error":{"status":410,"code":"compacted","message":"...","oldest":61}}   the last line
//
// The first line is always a progress line at from-1, so a client knows
// where the stream starts even when it asked for "now"; to resume after a
// disconnect, ask for from = the last revision seen (change or progress)
// + 1. A transaction's changes share one line. With "Accept:
// text/event-stream" the same JSON comes as Server-Sent Events: changes
// as plain messages, progress as "event: progress", each with "id:" = its
// revision, and the final error as "event: end"; the Last-Event-ID header
// a browser's EventSource sends when it reconnects overrides from with
// id+1, so an EventSource resumes by itself.
//
// A stream ends with an error line when the watch cannot go on: code
// "compacted" (with "oldest", the oldest revision the node still has:
// list the range again and watch from there), "closed" (the server is
// shutting down or the database closed: resume, on another node if
// need be). A from already older than the history is answered before the
// stream starts with 410 Gone and the same error object (code compacted,
// oldest). A watch stream is not bounded by RequestTimeout and clears the
// server's read and write deadlines; it runs until the client leaves or
// the stream ends. At most Options.MaxWatchers (default 1000) streams run
// at once: one more is refused with 503 busy and Retry-After. Tokens
// apply as to every route. Client.Watch is the Go client: it resumes on
// its own after a dropped connection.
//
// # Leases
//
// The lease routes are yggr.DB's lease operations (see yggr.DB.Grant for
// the guarantee). A lease ID is the decimal log index of its grant; TTLs
// are whole milliseconds from yggr.MinLeaseTTL to yggr.MaxLeaseTTL
// (1ms to 30 days). A key is attached by PUT /v1/kv/{key}?lease=ID or by a
// transaction put with "lease":ID (0 or absent: no lease; a put without a
// lease detaches the key). Revoking a lease, or its expiry, deletes all
// its keys at one revision (watchers see the deletes in one line).
// Keepalives write nothing to the log: keep a lease alive every TTL/3 or
// so (Client.KeepAliveLoop does). A keepalive, a put or a transaction
// naming a lease that was never granted, was revoked or has expired is
// answered 404 lease_not_found, and such a put or transaction changes
// nothing; a TTL of 0, negative or over 30 days (or missing) is 400
// lease_ttl; a lease ID that is not a decimal number is 400 invalid. Any
// node serves every lease route: followers forward keepalives and
// time-to-live questions to the leader, whose clock alone decides expiry.
//
// # Locks and elections
//
// The lock and election routes run the concurrency package's Mutex and
// Election on the server, on a lease the client owns: the client grants
// it, keeps it alive (every TTL/3) and revokes it when done, and the lock
// or candidacy lasts as long as the lease (etcd's v3lock and v3election
// model). POST /v1/lock and /v1/election/campaign wait as long as the
// client does, not bounded by RequestTimeout; a client that hangs up while
// waiting leaves the queue. The token of a lock (the rev of a leadership)
// is its fencing token: see the concurrency package. Names are key
// prefixes: a lock named N owns the keys under "N/". Codes: lock_lost and
// not_elected (409), no_elected_leader (404), lease_not_found (404: the
// lease does not exist, or no longer). Client.Lock and Client.Campaign do
// not apply the client's per-attempt Timeout.
//
// # Usage
//
//	db, err := yggr.Open(dir, nil)
//	srv := &http.Server{Addr: "127.0.0.1:7070", Handler: httpapi.NewHandler(db, httpapi.Options{Token: token})}
//
//	c, err := httpapi.NewClient([]string{"10.0.0.1:7070", "10.0.0.2:7070"}, httpapi.ClientOptions{Token: token})
//	defer c.Close()
//	index, err := c.Put(ctx, []byte("k"), []byte("v"))
//	v, modIndex, err := c.Get(ctx, []byte("k"))
//	if errors.Is(err, yggr.ErrNotFound) { ... }
//
//	id, err := c.Grant(ctx, 10*time.Second)
//	_, err = c.Put(ctx, []byte("svc/n1"), addr, yggr.WithLease(id))
//	go c.KeepAliveLoop(ctx, id, 10*time.Second)
//
// # Caveats
//
// The handler does not set TLS, header limits, idle timeouts or a cap on
// connections: that is the http.Server's job. Every request runs under
// Options.RequestTimeout, a backup included: raise it for large databases.
// The request body must arrive within it too (the handler sets the
// connection's read deadline until the body is read): a body shorter than
// its Content-Length is answered 408. A client that hangs up mid-request
// is recorded as status 499 (StatusClientClosed) in the metrics and the
// log, never as a 5xx. /healthz and /readyz
// need no token (orchestrators probe them), nor do the console's static
// files under /ui/ (they hold no data: the page asks for the token and
// sends it with each API request; docs/console.md). A scan returns at most
// MaxScanLimit items and about 16 MiB of keys and values per page.
//
// A 504 or a lost connection leaves a write's outcome unknown. The
// client has one retry policy (Client, retry.go): a request the node
// refused before it reached a log (a failed dial; 503 no_leader,
// not_leader, busy or dropped) goes to the next endpoint, but never again
// to one that answered no_leader or not_leader (it already followed leader
// changes itself); a request that may have been applied goes on only if
// it is idempotent (a GET, a lease keepalive). A put, delete, transaction,
// grant, revoke, lock or membership change whose outcome is unknown is
// not sent again: the call fails with an error matching
// yggr.ErrUnknownOutcome, so the client's retries never apply a write
// twice. At most two passes over the endpoints per call.
//
// Malformed percent-encoding in the path is rejected by net/http itself
// with a plain-text 400 before the handler runs; in the query it gets the
// JSON 400.
package httpapi
