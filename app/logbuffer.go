package app

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBuffer batches log lines into fewer, larger writes: the access log writes one line per
// request, and unbuffered that is one write system call per request on the hot path (to a
// pipe, in a container). Lines wait at most interval (or until size bytes have gathered);
// Close writes out the rest, so a clean shutdown loses nothing. A crash loses at most the last
// interval's lines, which is why the interval is short.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer, size int, interval time.Duration) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.flush()
			case <-b.stop:
				b.flush()
				return
			}
		}
	}()
	return b
}

// Write takes one whole line (slog's handlers write a record in one call), so lines are never
// interleaved; a line larger than the buffer is written through.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush() // nowhere to report a failed log write
}

// Close writes out what is buffered and stops the flushing goroutine.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	return nil
}
