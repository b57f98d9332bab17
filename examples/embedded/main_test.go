package main

import "testing"

func TestRunTwiceCounts(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		if err := run(dir); err != nil {
			t.Fatal(err)
		}
	}
}
