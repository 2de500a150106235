package webhook

// Key returns the key l matches r by: the key function given to
// NewRouteLogger applied to r. A cluster relay uses it to decide where a
// delivery belongs without recording it.
func (l *RouteLogger) Key(r Request) string { return l.key(r) }

// Pending reports whether key is pending: Sent, not Deleted and not past
// its TTL. It does not record anything or evict anything. The answer may be
// stale by the time the caller acts on it (another goroutine may Sent or
// Delete key meanwhile); a relay uses it only to choose between recording a
// delivery here and forwarding it, and Record stays correct either way.
func (l *RouteLogger) Pending(key string) bool {
	if key == "" {
		return false
	}
	s, tag := l.shard(key)
	s.mu.Lock()
	e := s.get(key, tag)
	ok := e != nil && !e.gone && e.expires > l.now()
	s.mu.Unlock()
	return ok
}
