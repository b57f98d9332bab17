package testutil

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestLogBuffer(t *testing.T) {
	var l LogBuffer
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				fmt.Fprintf(&l, "g=%d i=%d level=INFO\n", g, i)
			}
		}()
	}
	wg.Wait()
	if got := len(l.Lines("level=INFO")); got != 200 {
		t.Fatalf("%d lines with level=INFO, want 200", got)
	}
	if got := l.Lines("g=2", "i=7 "); !slices.Equal(got, []string{"g=2 i=7 level=INFO"}) {
		t.Fatalf("Lines(g=2, i=7) = %q", got)
	}
	if got := l.Lines("nowhere"); len(got) != 0 {
		t.Fatalf("Lines(nowhere) = %q, want none", got)
	}
}
