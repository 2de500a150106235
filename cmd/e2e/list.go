package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/orbital-e2e/orbital/webhook"
)

// runList is `e2e list`: the cases the same flags would register, with period and timeout.
// It starts nothing; on the embedded default the kafka case is listed, as serve registers it.
func runList(_ context.Context, a *app, o *options) error {
	t := &target{apiURL: o.api, writeKey: o.writeKey, brokers: o.brokersList, embedded: o.api == ""}
	if t.embedded {
		t.apiURL = "http://embedded"
		if len(t.brokers) == 0 {
			t.brokers = []string{"embedded:9092"}
		}
	}
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	cases, err := selectCases(o, t.harness(o, rl, slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tPERIOD\tTIMEOUT")
	for _, tc := range cases {
		timeout := tc.Timeout
		if timeout == 0 {
			timeout = o.timeout
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", tc.Name, tc.Period, timeout)
	}
	return tw.Flush()
}
