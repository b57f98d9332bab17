package netquic

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestCallFrames: the exported call codec answers as Transport does, and
// refuses frames of the wrong kind or with trailing bytes.
func TestCallFrames(t *testing.T) {
	req, err := AppendCallRequest(nil, []byte("ping"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeCallRequest(req, 0); err != nil || string(got) != "ping" {
		t.Errorf("DecodeCallRequest = %q, %v; want ping", got, err)
	}
	if _, err := DecodeCallRequest(append(req, 0), 0); !errors.Is(err, ErrBadFrame) {
		t.Errorf("trailing byte: got %v, want ErrBadFrame", err)
	}
	if _, err := DecodeCallResponse(req, "n2", 0); !errors.Is(err, ErrBadFrame) {
		t.Errorf("request as response: got %v, want ErrBadFrame", err)
	}
	long := errors.New(strings.Repeat("x", 2*maxCallErrText))
	for _, tc := range []struct {
		name    string
		resp    []byte
		herr    error
		want    []byte
		wantErr error
		errLen  int // the error text's length bound, if any
	}{
		{name: "ok", resp: []byte("pong"), want: []byte("pong")},
		{name: "no handler", herr: ErrNoHandler, wantErr: ErrNoHandler},
		{name: "handler error", herr: errors.New("boom"), wantErr: ErrRemote},
		{name: "long error", herr: long, wantErr: ErrRemote, errLen: maxCallErrText + 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := AppendCallResponse(nil, tc.resp, tc.herr, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeCallResponse(f, "n2", 0)
			if !errors.Is(err, tc.wantErr) || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
			if tc.errLen > 0 && len(err.Error()) > tc.errLen {
				t.Errorf("error text of %d bytes, want at most %d", len(err.Error()), tc.errLen)
			}
		})
	}
}

// FuzzCallFrames: no input makes the call decoders panic, and what decodes
// re-encodes to the same frame.
func FuzzCallFrames(f *testing.F) {
	req, _ := AppendCallRequest(nil, []byte("ping"), 0)
	resp, _ := AppendCallResponse(nil, []byte("pong"), nil, 0)
	f.Add(req)
	f.Add(resp)
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodeCallRequest(b, 1<<16); err == nil {
			again, err := AppendCallRequest(nil, p, 1<<16)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("request %x re-encodes to %x, %v", b, again, err)
			}
		}
		if p, err := DecodeCallResponse(b, "n2", 1<<16); err == nil {
			again, err := AppendCallResponse(nil, p, nil, 1<<16)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("response %x re-encodes to %x, %v", b, again, err)
			}
		}
	})
}
