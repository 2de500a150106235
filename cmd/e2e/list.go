package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/orbital-e2e/orbital/internal/e2e"
)

// runList is `e2e list`: the cases the same flags would register, with period and timeout.
// It starts nothing; on the embedded default the kafka case is listed, as serve registers it.
func runList(_ context.Context, a *app, o *options) error {
	cases, err := e2e.Cases(o.cfg)
	if err != nil {
		return startError(context.Background(), o, err)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tPERIOD\tTIMEOUT")
	for _, tc := range cases {
		timeout := tc.Timeout
		if timeout == 0 {
			timeout = o.cfg.Timeout
		}
		period := tc.Period.String()
		if tc.Period == 0 {
			period = "gate only"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", tc.Name, period, timeout)
	}
	return tw.Flush()
}
