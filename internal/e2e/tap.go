package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/orbital-e2e/orbital/kafkatap"
)

// tapStartup bounds positioning the tap on the pipeline's topics (they must exist by then).
const tapStartup = 30 * time.Second

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
// consumer group) and keeps only the sightings of its own runs' events.
func (s *Server) startTap(ctx context.Context) error {
	topics := tapTopics(s.cfg, s.target)
	if len(topics) == 0 {
		return nil
	}
	if len(s.target.brokers) == 0 {
		return configErr(fmt.Errorf("--tap-topics needs --kafka-brokers"))
	}
	tap, err := kafkatap.New(kafkatap.Config{
		Brokers: s.target.brokers,
		Topics:  topics,
		Stats:   s.eng,
		Log:     s.cfg.Logger.With("component", "tap"),
	})
	if err != nil {
		return configErr(fmt.Errorf("kafka tap: %w", err))
	}
	sctx, cancel := context.WithTimeout(ctx, tapStartup)
	defer cancel()
	if err := tap.Start(sctx); err != nil {
		_ = tap.Close()
		return fmt.Errorf("kafka tap on %v: %w", topics, err)
	}
	s.tap = tap
	s.cfg.Logger.Info("kafka tap started", "topics", topics)
	return nil
}
