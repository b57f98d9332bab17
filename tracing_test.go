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
	tp.mu.Lock()
	defer tp.mu.Unlock()
	want := []string{"yggr.Put", "yggr.Get", "yggr.Delete", "yggr.Txn", "yggr.List"}
	if !slices.Equal(tp.names, want) {
		t.Fatalf("spans = %v, want %v", tp.names, want)
	}
}
