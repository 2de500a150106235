//go:build race

package metrics

// raceEnabled: built with -race, whose pointer checks catch segmentio/fasthash reading one
// byte past a label value that ends at the end of its allocation (see padTags).
const raceEnabled = true
