package webhook

// idTable is the set of recorded delivery ids of seenIDs, each with the end
// of its memory. Every new delivery is looked up in it, and at the rates
// the closed loop runs it holds hundreds of thousands of ids: a Go map's
// lookup there walks a directory, a table and a group, each a likely cache
// miss. idTable is flat instead: 256 open-addressed parts (linear probing,
// at most 3/4 full) picked by the hash's top byte, each with an array of
// 2-byte fingerprints beside its 24-byte slots. A lookup of a new id reads
// fingerprints only (a few megabytes for a million ids, small enough to
// stay in cache) and touches a slot only when a fingerprint matches. Each
// part grows on its own (doubling), so no growth moves more than about a
// 256th of the ids while seenIDs' lock is held. Like a Go map it does not
// shrink. Not safe for concurrent use.
type idTable struct {
	parts [idParts]idPart
	n     int // ids held
}

const idParts = 256

// idPart is one open-addressed part: fps[i] is 0 when slot i is empty,
// otherwise fingerprint(slots[i].id).
type idPart struct {
	fps   []uint16
	slots []seenAt
	n     int
}

func (t *idTable) part(id idKey) *idPart { return &t.parts[id[1]>>56] }

// fingerprint is never 0; it takes bits of id that pick neither the part
// nor the home slot.
func fingerprint(id idKey) uint16 { return uint16(id[1]) | 1 }

// has reports whether id is held.
func (t *idTable) has(id idKey) bool {
	_, ok := t.part(id).find(id)
	return ok
}

// set holds id until expires, or moves its end there when it is held
// already.
func (t *idTable) set(id idKey, expires int64) {
	p := t.part(id)
	if (p.n+1)*4 > len(p.slots)*3 {
		p.grow()
	}
	i, ok := p.find(id)
	if !ok {
		p.n++
		t.n++
		p.fps[i] = fingerprint(id)
	}
	p.slots[i] = seenAt{id: id, expires: expires}
}

// deleteIf forgets id if it is held until expires (so a stale entry of the
// expiry queue does not forget an id recorded again since).
func (t *idTable) deleteIf(id idKey, expires int64) {
	p := t.part(id)
	if i, ok := p.find(id); ok && p.slots[i].expires == expires {
		p.removeAt(i)
		t.n--
	}
}

// find returns id's slot and true, or the empty slot where it would go and
// false (-1 when the part has no slots yet).
func (p *idPart) find(id idKey) (int, bool) {
	if len(p.fps) == 0 {
		return -1, false
	}
	fp, mask := fingerprint(id), len(p.fps)-1
	for i := int(id[0] & uint64(mask)); ; i = (i + 1) & mask {
		switch p.fps[i] {
		case 0:
			return i, false
		case fp:
			if p.slots[i].id == id {
				return i, true
			}
		}
	}
}

// grow doubles the part (16 slots at first) and places every id again.
func (p *idPart) grow() {
	oldFps, old := p.fps, p.slots
	size := max(16, 2*len(old))
	p.fps, p.slots = make([]uint16, size), make([]seenAt, size)
	for j, fp := range oldFps {
		if fp != 0 {
			i, _ := p.find(old[j].id)
			p.fps[i], p.slots[i] = fp, old[j]
		}
	}
}

// removeAt empties slot i, moving later slots of its probe run back so
// that every id stays reachable from its home slot (no tombstones).
func (p *idPart) removeAt(i int) {
	mask := len(p.fps) - 1
	for j := (i + 1) & mask; p.fps[j] != 0; j = (j + 1) & mask {
		home := int(p.slots[j].id[0] & uint64(mask))
		// The id at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if i < j && (home <= i || home > j) || i > j && home <= i && home > j {
			p.fps[i], p.slots[i] = p.fps[j], p.slots[j]
			i = j
		}
	}
	p.fps[i], p.slots[i] = 0, seenAt{}
	p.n--
}
