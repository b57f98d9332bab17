package kv

import "fmt"

// Default limits.
const (
	DefaultMaxKeyBytes   = 4 << 10 // 4 KiB
	DefaultMaxValueBytes = 1 << 20 // 1 MiB
	DefaultMaxTxnOps     = 128
)

// Limits bounds what a client may propose. They are checked before a
// command is proposed, never when it is applied: replicas must apply the
// same log identically whatever their configuration. A zero or negative
// field means its default.
type Limits struct {
	MaxKeyBytes   int // longest key
	MaxValueBytes int // longest value, also of a value compare
	MaxTxnOps     int // most compares, and most requests in each branch, of a Txn
}

// WithDefaults returns l with zero or negative fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxKeyBytes <= 0 {
		l.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	if l.MaxTxnOps <= 0 {
		l.MaxTxnOps = DefaultMaxTxnOps
	}
	return l
}

// CheckKey returns an error wrapping ErrInvalid if key is empty, or
// ErrTooLarge if it is longer than MaxKeyBytes. Use it before a delete or
// a get.
func (l Limits) CheckKey(key []byte) error {
	l = l.WithDefaults()
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > l.MaxKeyBytes {
		return fmt.Errorf("%w: key is %d bytes, limit %d", ErrTooLarge, len(key), l.MaxKeyBytes)
	}
	return nil
}

// CheckPut checks a put of value under key: CheckKey, and value no longer
// than MaxValueBytes (ErrTooLarge).
func (l Limits) CheckPut(key, value []byte) error {
	if err := l.CheckKey(key); err != nil {
		return err
	}
	return l.checkValue(value)
}

func (l Limits) checkValue(value []byte) error {
	l = l.WithDefaults()
	if len(value) > l.MaxValueBytes {
		return fmt.Errorf("%w: value is %d bytes, limit %d", ErrTooLarge, len(value), l.MaxValueBytes)
	}
	return nil
}

// CheckTxn checks a transaction: at most MaxTxnOps compares and requests in
// each branch (ErrTooLarge); known targets and ops (ErrInvalid); every key
// and value as for CheckKey and CheckPut; no Value, ModIndex or CreateIndex on a compare
// or request that does not use it (ErrInvalid, as it would be silently
// dropped by the encoding).
func (l Limits) CheckTxn(t Txn) error {
	l = l.WithDefaults()
	for _, part := range []struct {
		name string
		n    int
	}{{"compares", len(t.Compares)}, {"then requests", len(t.Then)}, {"else requests", len(t.Else)}} {
		if part.n > l.MaxTxnOps {
			return fmt.Errorf("%w: %d %s, limit %d", ErrTooLarge, part.n, part.name, l.MaxTxnOps)
		}
	}
	for i, c := range t.Compares {
		if err := l.checkCompare(c); err != nil {
			return fmt.Errorf("compare %d: %w", i, err)
		}
	}
	for _, branch := range []struct {
		name string
		reqs []Request
	}{{"then", t.Then}, {"else", t.Else}} {
		for i, r := range branch.reqs {
			if err := l.checkRequest(r); err != nil {
				return fmt.Errorf("%s request %d: %w", branch.name, i, err)
			}
		}
	}
	return nil
}

func (l Limits) checkCompare(c Compare) error {
	if err := l.CheckKey(c.Key); err != nil {
		return err
	}
	switch c.Target {
	case CmpExists, CmpMissing:
	case CmpValue:
		if err := l.checkValue(c.Value); err != nil {
			return err
		}
	case CmpModIndex, CmpCreateIndex:
	default:
		return fmt.Errorf("%w: unknown compare target %d", ErrInvalid, uint8(c.Target))
	}
	if c.Target != CmpValue && len(c.Value) > 0 {
		return fmt.Errorf("%w: value given for a %s compare", ErrInvalid, c.Target)
	}
	if c.Target != CmpModIndex && c.ModIndex != 0 {
		return fmt.Errorf("%w: mod index given for a %s compare", ErrInvalid, c.Target)
	}
	if c.Target != CmpCreateIndex && c.CreateIndex != 0 {
		return fmt.Errorf("%w: create index given for a %s compare", ErrInvalid, c.Target)
	}
	return nil
}

func (l Limits) checkRequest(r Request) error {
	switch r.Op {
	case OpPut:
		return l.CheckPut(r.Key, r.Value)
	case OpDelete, OpGet:
		if len(r.Value) > 0 {
			return fmt.Errorf("%w: value given for a %s request", ErrInvalid, r.Op)
		}
		if r.Lease != 0 {
			return fmt.Errorf("%w: lease given for a %s request", ErrInvalid, r.Op)
		}
		return l.CheckKey(r.Key)
	}
	return fmt.Errorf("%w: unknown op %d", ErrInvalid, uint8(r.Op))
}
