package loadgen

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws "label done/total" on one terminal line, at most ten times a second.
// A nil writer draws nothing (output piped).
type progress struct {
	w     io.Writer
	label string
	total int
	mu    sync.Mutex
	max   int
	drawn time.Time
}

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, label: label, total: total}
}

func (p *progress) set(done int) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done <= p.max {
		return
	}
	p.max = done
	if now := time.Now(); now.Sub(p.drawn) >= 100*time.Millisecond || done == p.total {
		p.drawn = now
		fmt.Fprintf(p.w, "\r\033[K%s %d/%d (%d%%)", p.label, done, p.total, done*100/max(p.total, 1))
	}
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\033[K")
}
