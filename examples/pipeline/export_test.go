package pipeline

// TrackerStats describes a worker's commit tracker, for tests.
type TrackerStats struct {
	Partitions  int // partitions it holds offset state for
	Uncommitted int // fetched events whose offset is not committable yet
	Unsaved     int // partitions whose committable offset is not committed yet
	Generation  int32
}

// TrackerState reports the commit tracker of p's worker.
func TrackerState(p *Pipeline) TrackerStats {
	t := p.worker.tracker
	t.mu.Lock()
	defer t.mu.Unlock()
	s := TrackerStats{Generation: t.gen}
	for _, ps := range t.parts {
		s.Partitions++
		s.Uncommitted += len(ps.entries)
		if ps.dirty {
			s.Unsaved++
		}
	}
	return s
}
