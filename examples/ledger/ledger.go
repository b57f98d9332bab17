package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Record is one entry of the ledger: an amount credited to (or, negative,
// debited from) an account, at the Raft index that applied it.
type Record struct {
	Index   uint64 `json:"index"`
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
}

// Result is what Apply answers a proposal.
type Result struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Balance int64  `json:"balance"`
}

// Ledger is an append-only ledger of records with the balances they add
// up to: a raft.StateMachine. Apply refuses a debit that would take an
// account below zero, the same way on every node, by answering a Result
// that says so.
type Ledger struct {
	mu       sync.RWMutex // Apply and Restore write; readers read
	records  []Record     // append-only: a prefix never changes
	balances map[string]int64
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{balances: map[string]int64{}} }

// Command encodes a transfer of amount to account for Propose.
func Command(account string, amount int64) []byte {
	b, _ := json.Marshal(Record{Account: account, Amount: amount})
	return b
}

// Apply applies one committed command.
func (l *Ledger) Apply(index uint64, cmd []byte) []byte {
	var r Record
	if err := json.Unmarshal(cmd, &r); err != nil || r.Account == "" {
		return result(Result{Error: "malformed command"})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	balance := l.balances[r.Account] + r.Amount
	if balance < 0 {
		return result(Result{Error: "insufficient funds", Balance: l.balances[r.Account]})
	}
	r.Index = index
	l.records = append(l.records, r)
	l.balances[r.Account] = balance
	return result(Result{OK: true, Balance: balance})
}

func result(r Result) []byte {
	b, _ := json.Marshal(r)
	return b
}

// Snapshot captures the ledger in O(1): the records so far are a prefix
// that never changes, so the image shares it with the live ledger.
func (l *Ledger) Snapshot() (io.WriterTo, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return image(l.records[:len(l.records):len(l.records)]), nil
}

// image writes records as JSON lines.
type image []Record

func (im image) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	enc := json.NewEncoder(cw)
	for _, r := range im {
		if err := enc.Encode(r); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the ledger with a snapshot's records; on error it keeps
// the ledger as it was.
func (l *Ledger) Restore(r io.Reader) error {
	var records []Record
	balances := map[string]int64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("ledger: snapshot record %d: %w", len(records), err)
		}
		records = append(records, rec)
		balances[rec.Account] += rec.Amount
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ledger: snapshot: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records, l.balances = records, balances
	return nil
}

// Balance returns an account's balance as of the last applied command.
func (l *Ledger) Balance(account string) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.balances[account]
}

// Len returns the number of records.
func (l *Ledger) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.records)
}
