package reliability_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/orbital-e2e/orbital/internal/config"
)

// FuzzCaseOverrides feeds arbitrary text to the e2e binary's per-case
// override parsing: the --case-period/--case-timeout values, the --disable
// list, and override files in JSON and YAML. Nothing panics; an accepted
// duration list reads back the same from its String form; files are either
// refused with an error or merged and checked.
func FuzzCaseOverrides(f *testing.F) {
	for _, s := range []string{
		"track=30s", "track=30s,batch=1m", "a=1h2m3.5s", "=", "track=", "track=-1s", ",,,", "x=1y", "a=1s=2s",
		`{"cases":{"track":{"period":"30s","timeout":"20s","enabled":true}}}`,
		`{"cases":{"track":{"period":30}}}`, `{"cases":{"x":{"bogus":1}}}`, `{"cases":null}`,
		"cases:\n  track:\n    period: 30s\n    enabled: false\n", "cases: [1, 2]", "&a [*a]", "{",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		m := config.DurationMap{}
		if err := m.Set(s); err == nil {
			again := config.DurationMap{}
			if err := again.Set(m.String()); err != nil && len(m) > 0 {
				t.Fatalf("Set(%q) gave %v whose String %q does not parse: %v", s, m, m.String(), err)
			}
			for k, v := range m {
				if again[k] != v {
					t.Fatalf("Set(%q): %s=%s reads back as %s", s, k, v, again[k])
				}
			}
		}
		var names config.NameList
		_ = names.Set(s)
		_ = names.String()

		for _, ext := range []string{".json", ".yaml"} {
			path := filepath.Join(dir, "o"+ext)
			if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			file, err := config.Load(path)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					t.Fatalf("Load(%s): %v", ext, err)
				}
				continue
			}
			o := config.Overrides{}.Merge(file)
			_ = o.Check(o.Names())
		}
	})
}
