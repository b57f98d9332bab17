package yggr

import (
	"context"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// recordingProvider records the names of the spans started.
type recordingProvider struct {
	noop.TracerProvider
	mu    sync.Mutex
	names []string
}

type recordingTracer struct {
	noop.Tracer
	p *recordingProvider
}

func (p *recordingProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return recordingTracer{p: p}
}

func (t recordingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t.p.mu.Lock()
	t.p.names = append(t.p.names, name)
	t.p.mu.Unlock()
	return t.Tracer.Start(ctx, name, opts...)
}

func TestTracerProviderSeesClientOperations(t *testing.T) {
	ctx := testCtx(t)
	tp := &recordingProvider{}
	db, err := Open(t.TempDir(), nil, WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Put(ctx, []byte("k"), []byte("v"))
	db.Get(ctx, []byte("k"))
	db.Delete(ctx, []byte("k"))
	db.Txn(ctx, Txn{})
	db.List(ctx, nil, nil, 0)
	db.TxnEach(ctx, []Txn{{}, {}})
	tp.mu.Lock()
	defer tp.mu.Unlock()
	want := []string{"yggr.Put", "yggr.Get", "yggr.Delete", "yggr.Txn", "yggr.List", "yggr.TxnEach"}
	if !slices.Equal(tp.names, want) {
		t.Fatalf("spans = %v, want %v", tp.names, want)
	}
}

// eventSpan is a recording span that keeps the names of its events.
type eventSpan struct {
	trace.Span
	mu     *sync.Mutex
	events *[]string
}

func (s eventSpan) IsRecording() bool { return true }

func (s eventSpan) AddEvent(name string, _ ...trace.EventOption) {
	s.mu.Lock()
	*s.events = append(*s.events, name)
	s.mu.Unlock()
}

type eventTracer struct {
	noop.Tracer
	mu     sync.Mutex
	events []string
}

func (t *eventTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	_, inner := t.Tracer.Start(ctx, name, opts...)
	s := eventSpan{Span: inner, mu: &t.mu, events: &t.events}
	return trace.ContextWithSpan(ctx, s), s
}

type eventProvider struct {
	noop.TracerProvider
	t *eventTracer
}

func (p eventProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return p.t }

// A recording span gets the runtime's events (the runtime skips building
// them when the span does not record).
func TestRecordingSpanGetsEvents(t *testing.T) {
	ctx := testCtx(t)
	tr := &eventTracer{}
	db, err := Open(t.TempDir(), nil, WithTracerProvider(eventProvider{t: tr}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	want := []string{"propose", "applied", "read index"}
	if !slices.Equal(tr.events, want) {
		t.Fatalf("events = %v, want %v", tr.events, want)
	}
}
