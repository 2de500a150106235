package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/orbital-e2e/orbital/kafkatap"
)

// tapStartup is how long New waits for the tap to be positioned on the pipeline's topics
// before it goes on without (the tap keeps trying in the background: until it reads, failed
// runs say that where their event stopped is unknown, and why).
const tapStartup = 10 * time.Second

// tapTopics are the topics the tap reads for c on target t (issue 17): Config.TapTopics, or
// by default the embedded pipeline's ingest, dead-letter and output topics, or, for an
// external pipeline with brokers, its ingest topic and its output topic if named. None
// without brokers.
func tapTopics(c Config, t *target) []string {
	if c.TapTopics != nil {
		return c.TapTopics
	}
	if len(t.brokers) == 0 {
		return nil
	}
	out := []string{c.Topic}
	if t.embedded {
		out = append(out, t.deadLetterTopic)
	}
	if t.outputTopic != "" {
		out = append(out, t.outputTopic)
	}
	return out
}

// startTap starts the Kafka tap on the target's brokers, or leaves s.tap nil when there are
// no topics to tap. Every replica of a cluster taps every partition of the topics (no
// consumer group) and keeps only the sightings of its own runs' events. The tap is not
// required: when it cannot start within tapStartup (Kafka unreachable, a topic that does not
// exist) the Server starts anyway and the tap keeps trying until Close; meanwhile a failed
// run says why its event cannot be located.
func (s *Server) startTap(ctx context.Context) error {
	topics := tapTopics(s.cfg, s.target)
	if len(topics) == 0 {
		return nil
	}
	if len(s.target.brokers) == 0 {
		return configErr(fmt.Errorf("--tap-topics needs --kafka-brokers"))
	}
	log := s.cfg.Logger.With("component", "tap")
	tap, err := kafkatap.New(kafkatap.Config{Brokers: s.target.brokers, Topics: topics, Stats: s.eng, Log: log})
	if err != nil {
		return configErr(fmt.Errorf("kafka tap: %w", err))
	}
	s.tap = tap
	tctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopTap = func() { cancel(); <-done }
	go func() { // Start retries while tctx lasts
		defer close(done)
		// The tap logs its own start; only a failure to start is said here.
		if err := tap.Start(tctx); err != nil && tctx.Err() == nil {
			log.Warn("kafka tap did not start; failed runs cannot say where their event stopped", "topics", topics, "err", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(tapStartup):
		log.Warn("kafka tap not reading yet; it keeps trying, and failed runs say so", "topics", topics, "err", tap.Err())
	case <-ctx.Done():
		return fmt.Errorf("stopped while starting: %w", ctx.Err())
	}
	return nil
}
