package kafkatap

import (
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"
)

// Watch declares key (a messageId) pending: from now on, records whose
// Kafka key is key, or whose JSON value's top-level "messageId" is key,
// are kept as its sightings. Call it before sending. Watching a key
// already pending does nothing. With Config.MaxKeys keys pending it
// returns ErrFull. Records of keys not pending are never kept.
func (t *Tap) Watch(key string) error {
	if key == "" {
		return errors.New("kafkatap: Watch of an empty key")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.keys[key]; ok {
		return nil
	}
	if len(t.keys) >= t.cfg.MaxKeys {
		t.incr("tap.dropped_total", stats.T("reason", "keys_full"))
		return ErrFull
	}
	t.keys[key] = &entry{}
	t.npending.Store(int64(len(t.keys)))
	if t.cfg.Stats != nil {
		t.cfg.Stats.Set("tap.pending_keys", len(t.keys))
	}
	return nil
}

// Forget drops key and its sightings: it is no longer pending.
func (t *Tap) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.keys[key]; !ok {
		return
	}
	t.headerBytes -= t.keys[key].headerBytes
	delete(t.keys, key)
	t.npending.Store(int64(len(t.keys)))
	if t.cfg.Stats != nil {
		t.cfg.Stats.Set("tap.pending_keys", len(t.keys))
	}
}

// Sightings returns a copy of key's sightings in the order the tap read
// them (across partitions: the order it handled them), nil when key is
// not pending or was not seen.
func (t *Tap) Sightings(key string) []Sighting {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.keys[key]
	if e == nil || len(e.sightings) == 0 {
		return nil
	}
	out := make([]Sighting, len(e.sightings))
	for i, s := range e.sightings {
		out[i] = s
		if s.Headers != nil {
			out[i].Headers = make(map[string]string, len(s.Headers))
			for k, v := range s.Headers {
				out[i].Headers[k] = v
			}
		}
	}
	return out
}

// Dropped returns how many sightings of key were not kept because it had
// Config.MaxSightingsPerKey already (0 when key is not pending).
func (t *Tap) Dropped(key string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e := t.keys[key]; e != nil {
		return e.dropped
	}
	return 0
}

// observe keeps m as a sighting when it belongs to a pending key. The
// lookups do not allocate; only a match builds anything.
func (t *Tap) observe(p *partition, m *kafka.Message) {
	var key string // for the value's messageId, shares the record's memory: not kept
	t.mu.RLock()
	e := t.keys[string(m.Key)]
	if e != nil {
		key = string(m.Key) // a match: this copy is rare
	} else if id := messageID(m.Value); id != "" {
		if e = t.keys[id]; e != nil {
			key = id
		}
	}
	t.mu.RUnlock()
	if e == nil {
		return
	}
	dead := p.dead || hasErrorHeader(m.Headers)
	headers, cut, size := sightingHeaders(m.Headers, dead)
	s := Sighting{
		Topic: p.topic, Partition: m.Partition, Offset: m.Offset,
		Time: m.Time, SeenAt: time.Now(), DeadLetter: dead, Headers: headers,
	}
	t.mu.Lock()
	present := t.keys[key] == e // not forgotten meanwhile
	kept := present && len(e.sightings) < t.cfg.MaxSightingsPerKey
	if kept && size > 0 && t.headerBytes+size > t.cfg.MaxHeaderMemory {
		s.Headers, cut, size = nil, true, 0 // kept, without its headers
	}
	if kept {
		e.sightings = append(e.sightings, s)
		e.headerBytes += size
		t.headerBytes += size
	} else if present {
		e.dropped++
	}
	t.mu.Unlock()
	switch {
	case kept:
		t.incr("tap.sightings_total", p.tag)
		if cut {
			t.incr("tap.dropped_total", stats.T("reason", "headers"))
		}
	case present:
		t.incr("tap.dropped_total", stats.T("reason", "per_key"))
	}
}
