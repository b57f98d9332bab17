package kv

import (
	"encoding/binary"
	"fmt"

	"github.com/yggrdb/yggr/internal/record"
)

// commandVersion is the first byte of every encoded command. A decoder
// rejects any other version: a replica that cannot read a command must not
// guess at it.
//
// Version 2 adds leases: a put (also in a transaction) that attaches its
// key to a lease, and the lease grant and revoke commands; and the
// create-index compare (CmpCreateIndex). The encoder writes version 2 only
// for a command that uses one of them, so that every command without one
// keeps its version 1 bytes, which replicas of the previous release still
// apply (see doc.go: use leases only once every replica runs a release that
// reads version 2).
const (
	commandVersion      = 1
	commandVersionLease = 2
)

// Kind is the kind of a command, the second byte of its encoding.
type Kind uint8

// Command kinds. The values are part of the wire format: never renumber.
const (
	KindPut    Kind = 1 // set Key to Value
	KindDelete Kind = 2 // remove Key
	KindTxn    Kind = 3 // compare, then Then or Else
	// KindLeaseGrant creates a lease of TTL milliseconds whose ID is the
	// log index of the command (version 2).
	KindLeaseGrant Kind = 4
	// KindLeaseRevoke deletes lease Lease and every key attached to it,
	// all at the command's index (version 2).
	KindLeaseRevoke Kind = 5
)

// String returns the kind's name ("put", "delete", "txn").
func (k Kind) String() string {
	switch k {
	case KindPut:
		return "put"
	case KindDelete:
		return "delete"
	case KindTxn:
		return "txn"
	case KindLeaseGrant:
		return "lease_grant"
	case KindLeaseRevoke:
		return "lease_revoke"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Op is the operation of a transaction Request.
type Op uint8

// Request operations. The values are part of the wire format: never
// renumber.
const (
	OpPut    Op = 1 // set Key to Value
	OpDelete Op = 2 // remove Key
	OpGet    Op = 3 // read Key as of this point in the transaction
)

// String returns the operation's name ("put", "delete", "get").
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpGet:
		return "get"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// CmpTarget says what a Compare tests.
type CmpTarget uint8

// Compare targets. The values are part of the wire format: never renumber.
const (
	CmpExists   CmpTarget = 1 // the key exists
	CmpMissing  CmpTarget = 2 // the key does not exist
	CmpValue    CmpTarget = 3 // the key exists and its value equals Value
	CmpModIndex CmpTarget = 4 // the key's ModIndex equals ModIndex; a missing key has ModIndex 0
	// CmpCreateIndex: the key's CreateIndex equals CreateIndex; a missing
	// key has CreateIndex 0. A key deleted and created again has a new
	// CreateIndex, so this tells "the very key created at that index still
	// exists", whatever was put to it since (version 2).
	CmpCreateIndex CmpTarget = 5
)

// String returns the target's name ("exists", "missing", "value",
// "mod_index", "create_index").
func (c CmpTarget) String() string {
	switch c {
	case CmpExists:
		return "exists"
	case CmpMissing:
		return "missing"
	case CmpValue:
		return "value"
	case CmpModIndex:
		return "mod_index"
	case CmpCreateIndex:
		return "create_index"
	}
	return fmt.Sprintf("target(%d)", uint8(c))
}

// Compare is one condition of a Txn, evaluated against the state before the
// transaction.
type Compare struct {
	Key      []byte
	Target   CmpTarget
	Value    []byte // CmpValue only; empty otherwise
	ModIndex uint64 // CmpModIndex only; zero otherwise. 0 matches a missing key
	// CreateIndex is for CmpCreateIndex only; zero otherwise. 0 matches a
	// missing key.
	CreateIndex uint64
}

// Request is one operation of a Txn branch.
type Request struct {
	Op    Op
	Key   []byte
	Value []byte // OpPut only; empty otherwise
	// Lease, for OpPut only, attaches the key to that lease (0: to none;
	// a put without a lease detaches the key from the one it had). A
	// transaction whose branch puts with a lease that does not exist
	// changes nothing (Result.LeaseNotFound).
	Lease uint64
}

// Txn is a transaction: if every Compare holds (an empty list holds), the
// Then requests run, otherwise the Else requests, in order, all at one log
// index and atomically for readers.
type Txn struct {
	Compares []Compare
	Then     []Request
	Else     []Request
}

// Command is a decoded command, as carried in a Raft log entry.
type Command struct {
	Kind  Kind
	Key   []byte // KindPut, KindDelete
	Value []byte // KindPut
	Txn   Txn    // KindTxn
	// Lease is the lease a KindPut attaches its key to (0: none), or the
	// lease a KindLeaseRevoke revokes.
	Lease uint64
	// TTL is a KindLeaseGrant's time to live in milliseconds, > 0.
	TTL uint64
}

// EncodePut encodes a command that sets key to value. It does not check
// limits or emptiness; call Limits.CheckPut first. An empty key makes an
// undecodable command.
func EncodePut(key, value []byte) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen32+len(key)+len(value))
	b = append(b, commandVersion, byte(KindPut))
	b = appendBytes(b, key)
	return appendBytes(b, value)
}

// EncodePutLease encodes a command that sets key to value and attaches
// key to lease (version 2); with lease 0 it is EncodePut.
func EncodePutLease(key, value []byte, lease uint64) []byte {
	if lease == 0 {
		return EncodePut(key, value)
	}
	b := make([]byte, 0, 2+2*binary.MaxVarintLen32+binary.MaxVarintLen64+len(key)+len(value))
	b = append(b, commandVersionLease, byte(KindPut))
	b = appendBytes(b, key)
	b = appendBytes(b, value)
	return binary.AppendUvarint(b, lease)
}

// EncodeLeaseGrant encodes a command that creates a lease of ttl
// milliseconds; its ID is the log index the command is applied at. A ttl
// of 0 makes an undecodable command.
func EncodeLeaseGrant(ttl uint64) []byte {
	return binary.AppendUvarint([]byte{commandVersionLease, byte(KindLeaseGrant)}, ttl)
}

// EncodeLeaseRevoke encodes a command that revokes lease id and deletes
// its keys. An id of 0 makes an undecodable command.
func EncodeLeaseRevoke(id uint64) []byte {
	return binary.AppendUvarint([]byte{commandVersionLease, byte(KindLeaseRevoke)}, id)
}

// EncodeDelete encodes a command that removes key. An empty key makes an
// undecodable command.
func EncodeDelete(key []byte) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen32+len(key))
	b = append(b, commandVersion, byte(KindDelete))
	return appendBytes(b, key)
}

// EncodeTxn encodes a transaction command. It does not validate t; call
// Limits.CheckTxn first. Fields that the target or op does not use (a
// Compare's Value unless CmpValue, its ModIndex unless CmpModIndex, its
// CreateIndex unless CmpCreateIndex, a
// Request's Value unless OpPut) are not encoded. Invalid targets or ops make
// an undecodable command.
func EncodeTxn(t Txn) []byte {
	// A version 2 transaction carries a lease (maybe 0) on every put.
	leased := txnUsesLeases(t) || txnComparesCreate(t)
	b := make([]byte, 0, txnSize(t, leased))
	if leased {
		b = append(b, commandVersionLease, byte(KindTxn))
	} else {
		b = append(b, commandVersion, byte(KindTxn))
	}
	b = binary.AppendUvarint(b, uint64(len(t.Compares)))
	for _, c := range t.Compares {
		b = append(b, byte(c.Target))
		b = appendBytes(b, c.Key)
		switch c.Target {
		case CmpValue:
			b = appendBytes(b, c.Value)
		case CmpModIndex:
			b = binary.AppendUvarint(b, c.ModIndex)
		case CmpCreateIndex:
			b = binary.AppendUvarint(b, c.CreateIndex)
		}
	}
	b = appendRequests(b, t.Then, leased)
	return appendRequests(b, t.Else, leased)
}

// txnUsesLeases reports whether a put of t attaches a lease, which makes
// it a version 2 command.
func txnUsesLeases(t Txn) bool {
	for _, rs := range [][]Request{t.Then, t.Else} {
		for _, r := range rs {
			if r.Op == OpPut && r.Lease != 0 {
				return true
			}
		}
	}
	return false
}

// txnComparesCreate reports whether t has a CmpCreateIndex compare, which
// makes it a version 2 command.
func txnComparesCreate(t Txn) bool {
	for _, c := range t.Compares {
		if c.Target == CmpCreateIndex {
			return true
		}
	}
	return false
}

// EncodeCommand encodes c; it is the inverse of DecodeCommand. A command of
// unknown kind encodes to its version and kind bytes alone, which do not
// decode.
func EncodeCommand(c Command) []byte {
	switch c.Kind {
	case KindPut:
		return EncodePutLease(c.Key, c.Value, c.Lease)
	case KindDelete:
		return EncodeDelete(c.Key)
	case KindTxn:
		return EncodeTxn(c.Txn)
	case KindLeaseGrant:
		return EncodeLeaseGrant(c.TTL)
	case KindLeaseRevoke:
		return EncodeLeaseRevoke(c.Lease)
	}
	return []byte{commandVersion, byte(c.Kind)}
}

func appendRequests(b []byte, rs []Request, leased bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = append(b, byte(r.Op))
		b = appendBytes(b, r.Key)
		if r.Op == OpPut {
			b = appendBytes(b, r.Value)
			if leased {
				b = binary.AppendUvarint(b, r.Lease)
			}
		}
	}
	return b
}

// txnSize returns the exact length of EncodeTxn's encoding of t: the
// buffer is the proposal, which the engine and the log keep in memory
// until it is applied and checkpointed (a worst-case hint of 10-byte
// uvarints gave a 100-put transaction of 14.7 KB an 18 KiB allocation).
func txnSize(t Txn, leased bool) int {
	n := 2 + uvarintLen(uint64(len(t.Compares)))
	for _, c := range t.Compares {
		n += 1 + bytesLen(c.Key)
		switch c.Target {
		case CmpValue:
			n += bytesLen(c.Value)
		case CmpModIndex:
			n += uvarintLen(c.ModIndex)
		case CmpCreateIndex:
			n += uvarintLen(c.CreateIndex)
		}
	}
	for _, rs := range [][]Request{t.Then, t.Else} {
		n += uvarintLen(uint64(len(rs)))
		for _, r := range rs {
			n += 1 + bytesLen(r.Key)
			if r.Op == OpPut {
				n += bytesLen(r.Value)
				if leased {
					n += uvarintLen(r.Lease)
				}
			}
		}
	}
	return n
}

// bytesLen is the length of appendBytes' encoding of b.
func bytesLen(b []byte) int { return uvarintLen(uint64(len(b))) + len(b) }

// Smallest encodings of a compare and a request: a target or op byte, a
// one-byte key length and a one-byte key.
const (
	minCompareBytes = 3
	minRequestBytes = 3
)

// DecodeCommand decodes and validates an encoded command: known version,
// kind, ops and targets; non-empty keys; canonical encoding with no trailing
// bytes. It does not check Limits (replicas must agree on what applies,
// whatever their configuration). The returned slices alias b. Errors wrap
// ErrCorrupt.
func DecodeCommand(b []byte) (Command, error) {
	r := newReader(b)
	v := r.Field("version").U8()
	if r.Err() == nil && v != commandVersion && v != commandVersionLease {
		return Command{}, fmt.Errorf("%w: unknown command version %d", ErrCorrupt, v)
	}
	leased := v == commandVersionLease
	c := Command{Kind: Kind(r.Field("kind").U8())}
	if err := r.Err(); err != nil {
		return Command{}, err
	}
	switch {
	case c.Kind == KindPut:
		c.Key = readKey(r, "put key")
		c.Value = r.Field("put value").LenBytes()
		if leased {
			if c.Lease = r.Field("put lease").Uvarint(); r.Err() == nil && c.Lease == 0 {
				r.Failf("version 2 put without a lease")
			}
		}
	case c.Kind == KindDelete && !leased:
		c.Key = readKey(r, "delete key")
	case c.Kind == KindTxn:
		c.Txn = decodeTxn(r, leased)
		if r.Err() == nil && leased && !txnUsesLeases(c.Txn) && !txnComparesCreate(c.Txn) {
			r.Failf("version 2 transaction without a lease or a create_index compare")
		}
	case c.Kind == KindLeaseGrant && leased:
		if c.TTL = r.Field("lease ttl").Uvarint(); r.Err() == nil && c.TTL == 0 {
			r.Failf("lease ttl 0")
		}
	case c.Kind == KindLeaseRevoke && leased:
		if c.Lease = r.Field("lease id").Uvarint(); r.Err() == nil && c.Lease == 0 {
			r.Failf("lease id 0")
		}
	default:
		return Command{}, fmt.Errorf("%w: unknown command kind %d in version %d", ErrCorrupt, uint8(c.Kind), v)
	}
	if err := r.Finish(); err != nil {
		return Command{}, err
	}
	return c, nil
}

func decodeTxn(r *record.Reader, leased bool) Txn {
	var t Txn
	if n := r.Field("compare count").Count(minCompareBytes); n > 0 {
		t.Compares = make([]Compare, n)
		for i := range t.Compares {
			c := &t.Compares[i]
			c.Target = CmpTarget(r.Field("compare target").U8())
			c.Key = readKey(r, "compare key")
			switch c.Target {
			case CmpExists, CmpMissing:
			case CmpValue:
				c.Value = r.Field("compare value").LenBytes()
			case CmpModIndex:
				c.ModIndex = r.Field("compare mod index").Uvarint()
			case CmpCreateIndex:
				if !leased {
					r.Failf("create_index compare in a version 1 command")
					break
				}
				c.CreateIndex = r.Field("compare create index").Uvarint()
			default:
				r.Failf("unknown compare target %d", uint8(c.Target))
			}
			if r.Err() != nil {
				return Txn{}
			}
		}
	}
	t.Then = decodeRequests(r, &thenFields, leased)
	t.Else = decodeRequests(r, &elseFields, leased)
	if r.Err() != nil {
		return Txn{}
	}
	return t
}

// branchFields name the fields of a transaction branch in errors
// (constants: a label built per read would cost an allocation).
type branchFields struct{ name, count, op, key, value, lease string }

var (
	thenFields = branchFields{"then", "then count", "then op", "then key", "then value", "then lease"}
	elseFields = branchFields{"else", "else count", "else op", "else key", "else value", "else lease"}
)

func decodeRequests(r *record.Reader, f *branchFields, leased bool) []Request {
	n := r.Field(f.count).Count(minRequestBytes)
	if n == 0 {
		return nil
	}
	rs := make([]Request, n)
	for i := range rs {
		q := &rs[i]
		q.Op = Op(r.Field(f.op).U8())
		q.Key = readKey(r, f.key)
		switch q.Op {
		case OpPut:
			q.Value = r.Field(f.value).LenBytes()
			if leased {
				q.Lease = r.Field(f.lease).Uvarint()
			}
		case OpDelete, OpGet:
		default:
			r.Failf("unknown %s op %d", f.name, uint8(q.Op))
		}
		if r.Err() != nil {
			return nil
		}
	}
	return rs
}
