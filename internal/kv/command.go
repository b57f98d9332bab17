package kv

import (
	"encoding/binary"
	"fmt"
)

// commandVersion is the first byte of every encoded command. A decoder
// rejects any other version: a replica that cannot read a command must not
// guess at it.
const commandVersion = 1

// Kind is the kind of a command, the second byte of its encoding.
type Kind uint8

// Command kinds. The values are part of the wire format: never renumber.
const (
	KindPut    Kind = 1 // set Key to Value
	KindDelete Kind = 2 // remove Key
	KindTxn    Kind = 3 // compare, then Then or Else
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
)

// String returns the target's name ("exists", "missing", "value",
// "mod_index").
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
}

// Request is one operation of a Txn branch.
type Request struct {
	Op    Op
	Key   []byte
	Value []byte // OpPut only; empty otherwise
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

// EncodeDelete encodes a command that removes key. An empty key makes an
// undecodable command.
func EncodeDelete(key []byte) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen32+len(key))
	b = append(b, commandVersion, byte(KindDelete))
	return appendBytes(b, key)
}

// EncodeTxn encodes a transaction command. It does not validate t; call
// Limits.CheckTxn first. Fields that the target or op does not use (a
// Compare's Value unless CmpValue, its ModIndex unless CmpModIndex, a
// Request's Value unless OpPut) are not encoded. Invalid targets or ops make
// an undecodable command.
func EncodeTxn(t Txn) []byte {
	b := make([]byte, 0, txnSizeHint(t))
	b = append(b, commandVersion, byte(KindTxn))
	b = binary.AppendUvarint(b, uint64(len(t.Compares)))
	for _, c := range t.Compares {
		b = append(b, byte(c.Target))
		b = appendBytes(b, c.Key)
		switch c.Target {
		case CmpValue:
			b = appendBytes(b, c.Value)
		case CmpModIndex:
			b = binary.AppendUvarint(b, c.ModIndex)
		}
	}
	b = appendRequests(b, t.Then)
	return appendRequests(b, t.Else)
}

// EncodeCommand encodes c; it is the inverse of DecodeCommand. A command of
// unknown kind encodes to its version and kind bytes alone, which do not
// decode.
func EncodeCommand(c Command) []byte {
	switch c.Kind {
	case KindPut:
		return EncodePut(c.Key, c.Value)
	case KindDelete:
		return EncodeDelete(c.Key)
	case KindTxn:
		return EncodeTxn(c.Txn)
	}
	return []byte{commandVersion, byte(c.Kind)}
}

func appendRequests(b []byte, rs []Request) []byte {
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = append(b, byte(r.Op))
		b = appendBytes(b, r.Key)
		if r.Op == OpPut {
			b = appendBytes(b, r.Value)
		}
	}
	return b
}

func txnSizeHint(t Txn) int {
	n := 2 + 3*binary.MaxVarintLen32
	for _, c := range t.Compares {
		n += 1 + 2*binary.MaxVarintLen64 + len(c.Key) + len(c.Value)
	}
	for _, rs := range [][]Request{t.Then, t.Else} {
		for _, r := range rs {
			n += 1 + 2*binary.MaxVarintLen32 + len(r.Key) + len(r.Value)
		}
	}
	return n
}

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
	d := decoder{buf: b}
	if v := d.byte("version"); d.err == nil && v != commandVersion {
		return Command{}, fmt.Errorf("%w: unknown command version %d", ErrCorrupt, v)
	}
	c := Command{Kind: Kind(d.byte("kind"))}
	if d.err != nil {
		return Command{}, d.err
	}
	switch c.Kind {
	case KindPut:
		c.Key = d.key("put key")
		c.Value = d.bytes("put value")
	case KindDelete:
		c.Key = d.key("delete key")
	case KindTxn:
		c.Txn = decodeTxn(&d)
	default:
		return Command{}, fmt.Errorf("%w: unknown command kind %d", ErrCorrupt, uint8(c.Kind))
	}
	if err := d.finish(); err != nil {
		return Command{}, err
	}
	return c, nil
}

func decodeTxn(d *decoder) Txn {
	var t Txn
	if n := d.count("compare count", minCompareBytes); n > 0 {
		t.Compares = make([]Compare, n)
		for i := range t.Compares {
			c := &t.Compares[i]
			c.Target = CmpTarget(d.byte("compare target"))
			c.Key = d.key("compare key")
			switch c.Target {
			case CmpExists, CmpMissing:
			case CmpValue:
				c.Value = d.bytes("compare value")
			case CmpModIndex:
				c.ModIndex = d.uvarint("compare mod index")
			default:
				d.fail("unknown compare target %d", uint8(c.Target))
			}
			if d.err != nil {
				return Txn{}
			}
		}
	}
	t.Then = decodeRequests(d, "then")
	t.Else = decodeRequests(d, "else")
	if d.err != nil {
		return Txn{}
	}
	return t
}

func decodeRequests(d *decoder, branch string) []Request {
	n := d.count(branch+" count", minRequestBytes)
	if n == 0 {
		return nil
	}
	rs := make([]Request, n)
	for i := range rs {
		r := &rs[i]
		r.Op = Op(d.byte(branch + " op"))
		r.Key = d.key(branch + " key")
		switch r.Op {
		case OpPut:
			r.Value = d.bytes(branch + " value")
		case OpDelete, OpGet:
		default:
			d.fail("unknown %s op %d", branch, uint8(r.Op))
		}
		if d.err != nil {
			return nil
		}
	}
	return rs
}
