package e2e

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// harness returns the suites' Harness for t.
func (t *target) harness(c Config, rl *webhook.RouteLogger, logger *slog.Logger) *tests.Harness {
	return &tests.Harness{
		APIURL:        t.apiURL,
		WriteKey:      t.writeKey,
		Brokers:       t.brokers,
		Topic:         c.Topic,
		OutputTopic:   t.outputTopic,
		Waiter:        rl,
		WebhookURL:    t.webhookURL,
		WebhookSecret: t.secret,
		ChromePath:    c.ChromePath,
		RequireChrome: c.RequireChrome,
		CDNURL:        c.CDNURL,
		Logger:        logger,
	}
}

// Cases returns the cases a Server with c would register, with the overrides applied,
// without starting anything (on the embedded default the kafka case is listed, as a Server
// registers it). It returns a *ConfigError when an override names an unknown case or
// nothing is selected.
func Cases(c Config) ([]orbital.TestCase, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	t := describeTarget(c)
	if t.embedded {
		t.apiURL = "http://embedded"
		if len(t.brokers) == 0 {
			t.brokers = []string{"embedded:9092"}
		}
	}
	rl := webhook.NewRouteLogger(tests.MessageID)
	return selectCases(c, t.harness(c, rl, slog.New(slog.DiscardHandler)))
}

// selectCases returns the cases to register: h's suites with the overrides applied, the
// disabled ones and those c.Run does not match left out.
func selectCases(c Config, h *tests.Harness) ([]orbital.TestCase, error) {
	// Every case name that may exist, whatever the brokers: an override for the kafka case is
	// not an error merely because this run has no brokers.
	all := *h
	if len(all.Brokers) == 0 {
		all.Brokers = []string{"127.0.0.1:9092"}
	}
	var known []string
	for _, tc := range all.Cases() {
		known = append(known, tc.Name)
	}
	if err := c.Overrides.Check(known); err != nil {
		return nil, configErr(err)
	}
	var out []orbital.TestCase
	for _, tc := range c.Overrides.Apply(h.Cases()) {
		if c.Run.MatchString(tc.Name) {
			out = append(out, tc)
		}
	}
	if len(out) == 0 {
		return nil, configErr(fmt.Errorf("no case selected (--run %q, cases: %s)", c.Run.String(), strings.Join(known, ", ")))
	}
	return out, nil
}
