package kafkaparts

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
)

// Partition is one topic partition and its reader. Embed it in a package's
// own partition type; its Part method makes that type a Part.
type Partition struct {
	Topic     string
	ID        int
	Reader    *kafka.Reader // nil until positioned
	Processed atomic.Int64  // offset after the last message handled
}

// Part returns p.
func (p *Partition) Part() *Partition { return p }

// Part is a type embedding a *Partition (or a Partition, addressed).
type Part interface{ Part() *Partition }

// CloseReaders closes the readers of parts concurrently (skipping those
// not opened) and joins their errors.
func CloseReaders[P Part](parts []P) error {
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		r := p.Part().Reader
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CheckTopics checks a Config.Topics list: not empty, no empty name, no
// name twice. Its errors start with pkg (say "kafkatap").
func CheckTopics(pkg string, topics []string) error {
	if len(topics) == 0 {
		return errors.New(pkg + ": Config.Topics is empty")
	}
	seen := make(map[string]bool, len(topics))
	for _, t := range topics {
		if t == "" {
			return errors.New(pkg + ": Config.Topics holds an empty topic name")
		}
		if seen[t] {
			return fmt.Errorf("%s: Config.Topics names %q twice", pkg, t)
		}
		seen[t] = true
	}
	return nil
}
