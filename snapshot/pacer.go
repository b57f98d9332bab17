package snapshot

import "time"

// pacer holds a Writer's chunk writes to Options.WriteBytesPerSec: a token
// bucket over the bytes written, refilled at the rate and holding at most
// one chunk's worth (burst), so that no more than burst bytes go out
// faster than the rate and a paused encoder does not save up a burst of
// several chunks. The time between writes (encoding the next chunk)
// counts towards the rate: it caps the mean rate of the snapshot, not of
// each write(2). A pacer is not safe for concurrent use; its Writer's
// goroutine owns it.
type pacer struct {
	rate   float64 // bytes per second, > 0
	burst  float64 // most tokens the bucket holds, bytes
	tokens float64 // may go negative: a debt paid by the wait in take
	last   time.Time
	now    func() time.Time                          // time.Now outside tests
	sleep  func(time.Duration, <-chan struct{}) bool // sleepUnless outside tests
}

// newPacer returns a pacer of rate bytes per second holding burst bytes,
// or nil (no pacing) when rate is 0.
func newPacer(rate int64, burst int) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{rate: float64(rate), burst: float64(max(burst, 1)), now: time.Now, sleep: sleepUnless}
}

// take charges n bytes and waits until the bucket has paid for them, or
// until stop is closed (nil: never), and then returns false. The first
// call starts with a full bucket, so a snapshot of one chunk is not
// delayed at all.
func (p *pacer) take(n int, stop <-chan struct{}) bool {
	if p == nil {
		return true
	}
	now := p.now()
	if p.last.IsZero() {
		p.tokens = p.burst
	} else {
		p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	p.tokens -= float64(n)
	if p.tokens < 0 {
		// The refill on the next take counts this wait back in.
		return p.sleep(time.Duration(-p.tokens/p.rate*float64(time.Second)), stop)
	}
	return true
}

// sleepUnless waits d, or until stop is closed and then returns false.
func sleepUnless(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}
