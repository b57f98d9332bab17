package netquic

import (
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
)

// The frames of a forwarded call, for a transport other than Transport (the
// tests' in-process twin) that must put calls through the real codec. Each
// function handles exactly one frame, of wire format Version; maxFrameBytes
// 0 means DefaultMaxFrameBytes.

// AppendCallRequest appends the frame of a call carrying req to b.
func AppendCallRequest(b, req []byte, maxFrameBytes int) ([]byte, error) {
	return appendCallRequest(b, Version, req, maxFrameBytes)
}

// DecodeCallRequest decodes exactly one call request frame and returns its
// payload, which aliases frame. Bad input is an error wrapping ErrBadFrame.
func DecodeCallRequest(frame []byte, maxFrameBytes int) ([]byte, error) {
	body, err := callBody(frame, kindCallRequest, maxFrameBytes)
	if err != nil {
		return nil, err
	}
	return newBodyDecoder().decodeCallRequest(body)
}

// AppendCallResponse appends the frame that answers a call to b: resp if
// herr is nil, "no handler" if herr wraps ErrNoHandler, else herr's text
// (truncated to a bound), as Transport answers.
func AppendCallResponse(b, resp []byte, herr error, maxFrameBytes int) ([]byte, error) {
	status, payload := uint64(callNoHandler), []byte(nil)
	if !errors.Is(herr, ErrNoHandler) {
		status, payload = callAnswer(resp, herr)
	}
	return appendCallResponse(b, Version, status, payload, maxFrameBytes)
}

// callAnswer returns the status and payload that answer a call with its
// handler's result: resp if herr is nil, else herr's text (truncated to
// maxCallErrText).
func callAnswer(resp []byte, herr error) (uint64, []byte) {
	if herr != nil {
		msg := herr.Error()
		if len(msg) > maxCallErrText {
			msg = msg[:maxCallErrText]
		}
		return callErr, []byte(msg)
	}
	return callOK, resp
}

// callResult returns what Call returns for an answer from peer to.
func callResult(to engine.NodeID, status uint64, payload []byte) ([]byte, error) {
	switch status {
	case callOK:
		return payload, nil
	case callNoHandler:
		return nil, fmt.Errorf("netquic: call %s: %w", to, ErrNoHandler)
	}
	return nil, fmt.Errorf("%w: %s: %s", ErrRemote, to, payload)
}

// DecodeCallResponse decodes exactly one call response frame from peer to
// and returns what Transport.Call would: the payload (aliasing frame), or
// an error wrapping ErrRemote (the handler failed), ErrNoHandler or
// ErrBadFrame.
func DecodeCallResponse(frame []byte, to engine.NodeID, maxFrameBytes int) ([]byte, error) {
	body, err := callBody(frame, kindCallResponse, maxFrameBytes)
	if err != nil {
		return nil, err
	}
	status, payload, err := newBodyDecoder().decodeCallResponse(body)
	if err != nil {
		return nil, err
	}
	return callResult(to, status, payload)
}

func callBody(frame []byte, want frameKind, maxFrameBytes int) ([]byte, error) {
	k, body, rest, err := splitFrame(frame, Version, maxFrameBytes)
	switch {
	case err != nil:
		return nil, err
	case k != want:
		return nil, badf("kind %s, want %s", k, want)
	case len(rest) != 0:
		return nil, badf("%d bytes after frame", len(rest))
	}
	return body, nil
}
