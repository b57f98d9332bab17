package kv

import (
	"bytes"
	"errors"
	"testing"
)

func TestCheckPut(t *testing.T) {
	small := Limits{MaxKeyBytes: 3, MaxValueBytes: 4}
	tests := []struct {
		name       string
		limits     Limits
		key, value []byte
		want       error
	}{
		{"ok", small, []byte("abc"), []byte("1234"), nil},
		{"empty value ok", small, []byte("a"), nil, nil},
		{"empty key", small, nil, []byte("v"), ErrInvalid},
		{"empty non-nil key", small, []byte{}, nil, ErrInvalid},
		{"key too long", small, []byte("abcd"), nil, ErrTooLarge},
		{"value too long", small, []byte("a"), []byte("12345"), ErrTooLarge},
		{"default key limit holds", Limits{}, bytes.Repeat([]byte("k"), DefaultMaxKeyBytes), nil, nil},
		{"default key limit", Limits{}, bytes.Repeat([]byte("k"), DefaultMaxKeyBytes+1), nil, ErrTooLarge},
		{"default value limit holds", Limits{}, []byte("k"), make([]byte, DefaultMaxValueBytes), nil},
		{"default value limit", Limits{}, []byte("k"), make([]byte, DefaultMaxValueBytes+1), ErrTooLarge},
		{"negative means default", Limits{MaxKeyBytes: -1}, bytes.Repeat([]byte("k"), 100), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.CheckPut(tt.key, tt.value)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckPut = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	l := Limits{MaxKeyBytes: 2}
	tests := []struct {
		key  []byte
		want error
	}{{nil, ErrInvalid}, {[]byte("a"), nil}, {[]byte("ab"), nil}, {[]byte("abc"), ErrTooLarge}}
	for _, tt := range tests {
		if err := l.CheckKey(tt.key); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckKey(%q) = %v, want %v", tt.key, err, tt.want)
		}
	}
}

func TestCheckTxn(t *testing.T) {
	l := Limits{MaxKeyBytes: 3, MaxValueBytes: 4, MaxTxnOps: 2}
	k := []byte("k")
	get := Request{Op: OpGet, Key: k}
	exists := Compare{Key: k, Target: CmpExists}
	tests := []struct {
		name string
		txn  Txn
		want error
	}{
		{"empty", Txn{}, nil},
		{"every kind", Txn{
			Compares: []Compare{{Key: k, Target: CmpValue, Value: []byte("1234")}, {Key: k, Target: CmpModIndex, ModIndex: 7}},
			Then:     []Request{{Op: OpPut, Key: k, Value: []byte("v")}, {Op: OpDelete, Key: k}},
			Else:     []Request{get, {Op: OpPut, Key: k}},
		}, nil},
		{"missing compare", Txn{Compares: []Compare{{Key: k, Target: CmpMissing}}}, nil},
		{"too many compares", Txn{Compares: []Compare{exists, exists, exists}}, ErrTooLarge},
		{"too many then", Txn{Then: []Request{get, get, get}}, ErrTooLarge},
		{"too many else", Txn{Else: []Request{get, get, get}}, ErrTooLarge},
		{"limit per branch, not in total", Txn{Compares: []Compare{exists, exists}, Then: []Request{get, get}, Else: []Request{get, get}}, nil},
		{"compare empty key", Txn{Compares: []Compare{{Target: CmpExists}}}, ErrInvalid},
		{"compare key too long", Txn{Compares: []Compare{{Key: []byte("abcd"), Target: CmpExists}}}, ErrTooLarge},
		{"compare unknown target", Txn{Compares: []Compare{{Key: k, Target: 0}}}, ErrInvalid},
		{"compare value too long", Txn{Compares: []Compare{{Key: k, Target: CmpValue, Value: []byte("12345")}}}, ErrTooLarge},
		{"value on exists compare", Txn{Compares: []Compare{{Key: k, Target: CmpExists, Value: []byte("x")}}}, ErrInvalid},
		{"mod index on value compare", Txn{Compares: []Compare{{Key: k, Target: CmpValue, ModIndex: 3}}}, ErrInvalid},
		{"create index compare", Txn{Compares: []Compare{{Key: k, Target: CmpCreateIndex, CreateIndex: 3}}}, nil},
		{"create index on mod index compare", Txn{Compares: []Compare{{Key: k, Target: CmpModIndex, CreateIndex: 3}}}, ErrInvalid},
		{"mod index on create index compare", Txn{Compares: []Compare{{Key: k, Target: CmpCreateIndex, ModIndex: 3}}}, ErrInvalid},
		{"request unknown op", Txn{Then: []Request{{Op: 0, Key: k}}}, ErrInvalid},
		{"request empty key", Txn{Else: []Request{{Op: OpDelete}}}, ErrInvalid},
		{"put key too long", Txn{Then: []Request{{Op: OpPut, Key: []byte("abcd")}}}, ErrTooLarge},
		{"put value too long", Txn{Else: []Request{{Op: OpPut, Key: k, Value: []byte("12345")}}}, ErrTooLarge},
		{"value on get", Txn{Then: []Request{{Op: OpGet, Key: k, Value: []byte("x")}}}, ErrInvalid},
		{"value on delete", Txn{Then: []Request{{Op: OpDelete, Key: k, Value: []byte("x")}}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.CheckTxn(tt.txn)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckTxn = %v, want %v", err, tt.want)
			}
		})
	}
	// The default op limit.
	many := make([]Request, DefaultMaxTxnOps+1)
	for i := range many {
		many[i] = get
	}
	if err := (Limits{}).CheckTxn(Txn{Then: many[:DefaultMaxTxnOps]}); err != nil {
		t.Errorf("CheckTxn(%d ops) = %v, want nil", DefaultMaxTxnOps, err)
	}
	if err := (Limits{}).CheckTxn(Txn{Then: many}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CheckTxn(%d ops) = %v, want ErrTooLarge", len(many), err)
	}
}

// TestCheckedCommandsDecode: whatever passes the checks encodes to a command
// that decodes (and so applies without error).
func TestCheckedCommandsDecode(t *testing.T) {
	if _, err := DecodeCommand(EncodeTxn(sampleTxn)); err != nil {
		t.Fatal(err)
	}
	if err := (Limits{}).CheckTxn(sampleTxn); err != nil {
		t.Errorf("CheckTxn(sampleTxn) = %v, want nil", err)
	}
}
