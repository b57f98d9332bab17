package node

import (
	"strings"
	"testing"
	"time"
)

// A negative tick would panic in the driver goroutine (time.NewTicker),
// where the caller cannot recover: Start refuses it.
func TestStartRefusesNegativeTick(t *testing.T) {
	n, err := Start(Config{ID: "n1", Dir: t.TempDir(), StateMachine: &bytesMachine{}, TickInterval: -time.Millisecond})
	if err == nil {
		n.Close()
		t.Fatal("Start succeeded with a negative tick")
	}
	if !strings.Contains(err.Error(), "tick interval -1ms is negative") {
		t.Fatalf("got %v, want the negative tick named", err)
	}
}
