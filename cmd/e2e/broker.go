package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/logging"
)

// validateBroker checks the flags of `e2e broker`.
func (o *options) validateBroker() error {
	if err := logging.CheckFormat(o.logFormat); err != nil {
		return err
	}
	if _, err := logging.ParseLevel(o.logLevel); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(o.brokerAddr)
	switch {
	case err != nil:
		return fmt.Errorf("invalid --addr %q: %w", o.brokerAddr, err)
	case port == "":
		return fmt.Errorf("invalid --addr %q: no port", o.brokerAddr)
	case host == "" || net.ParseIP(host).IsUnspecified():
		return fmt.Errorf("invalid --addr %q: the broker advertises it, so it must be an address clients can dial (such as 127.0.0.1:9092)", o.brokerAddr)
	}
	return nil
}

// runBroker is `e2e broker`: the embedded broker on its own until ctx ends (SIGTERM/SIGINT).
func runBroker(ctx context.Context, a *app, o *options) error {
	logger := a.logger(o)
	b, err := embedkafka.Start(embedkafka.Config{
		Addr:    o.brokerAddr,
		DataDir: o.cfg.DataDir,
		Logger:  logger.With("component", "kafka"),
	})
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return usagef("cannot listen on --addr: %v", err)
		}
		return err
	}
	logger.Info("broker listening", slog.String("addr", b.Addr()), slog.String("data_dir", o.cfg.DataDir))
	if a.listening != nil {
		a.listening(b.Addr())
	}
	<-ctx.Done()
	b.Close()
	logger.Info("broker stopped")
	return nil
}
