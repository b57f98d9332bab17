package engine

// Engine is one node's Raft protocol state. It is not safe for concurrent
// use: one goroutine (the host's driver) owns it.
type Engine struct {
	cfg Config
}

// New returns an engine in the follower role at term 0 with an empty log,
// or an error wrapping ErrInvalidConfig. Step Recover first to restore
// durable state.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg.withDefaults()}, nil
}

// Step applies one event and returns the actions the host must carry out,
// in order (see Action for the ordering contract). The returned slice is
// owned by the caller.
func (e *Engine) Step(ev Event) []Action {
	panic("engine: not implemented yet")
}

// Status returns a copy of the engine's state.
func (e *Engine) Status() Status { return Status{ID: e.cfg.ID} }
