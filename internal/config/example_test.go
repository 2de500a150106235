package config_test

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/orbital-e2e/orbital/internal/config"
	"github.com/orbital-e2e/orbital/orbital"
)

func Example() {
	periods := config.DurationMap{}
	var disabled config.NameList
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.Var(periods, "case-period", "name=duration")
	fs.Var(&disabled, "disable", "case names")
	_ = fs.Parse([]string{"--case-period", "track=10s", "--disable", "browser"})

	o := config.Overrides{Period: periods, Enabled: map[string]bool{}}
	for _, n := range disabled {
		o.Enabled[n] = false
	}
	o = o.Merge(config.File{}) // or the content of config.Load(path)

	fn := func(context.Context, *orbital.O) {}
	cases := []orbital.TestCase{
		{Name: "track", Period: 30 * time.Second, Func: fn},
		{Name: "browser", Period: 2 * time.Minute, Func: fn},
	}
	if err := o.Check([]string{"track", "browser"}); err != nil {
		fmt.Println(err)
		return
	}
	for _, tc := range o.Apply(cases) {
		fmt.Println(tc.Name, tc.Period)
	}
	// Output: track 10s
}
