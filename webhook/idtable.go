package webhook

import "math"

// idTable is the set of recorded delivery ids of seenIDs, each with the end
// of its memory, and of the ids in flight. Every new delivery is looked up
// and claimed in it, and at
// the rates the closed loop runs it holds hundreds of thousands of ids: a
// Go map's lookup there walks a directory, a table and a group, a few cache
// misses each time. idTable is flat instead: 256 open-addressed parts
// (linear probing, at most 3/4 full) picked by the hash's top byte, each
// slot the 24-byte seenAt, so a lookup is one probe into memory and the
// slots after it. Each part grows on its own (doubling), so no growth
// moves more than about a 256th of the ids while seenIDs' lock is held.
// Like a Go map it does not shrink. Not safe for concurrent use.
type idTable struct {
	n     int // ids held (first: on the line of seenIDs' lock)
	parts [idParts]idPart
}

const idParts = 256

// idPart is one open-addressed part; a slot whose expires is 0 is empty.
type idPart struct {
	slots []seenAt
	n     int
}

func (t *idTable) part(id idKey) *idPart { return &t.parts[id[1]>>56] }

// inFlight is the expires of an id reserved by a request recording its
// delivery (claim), until set records it or deleteIf releases it.
const inFlight = math.MinInt64

// claim looks id up and, when it is not held and fewer than max ids are,
// holds it in flight, in one probe: idNew (claimed), idSeen (recorded),
// idInFlight (claimed by another request) or idFull.
func (t *idTable) claim(id idKey, max int) int {
	p := t.part(id)
	i, ok := p.find(id)
	switch {
	case ok && p.slots[i].expires == inFlight:
		return idInFlight
	case ok:
		return idSeen
	case t.n >= max:
		return idFull
	}
	if (p.n+1)*4 > len(p.slots)*3 {
		p.grow()
		i, _ = p.find(id)
	}
	p.slots[i] = seenAt{id: id, expires: inFlight}
	p.n++
	t.n++
	return idNew
}

// set holds id until expires (neither 0 nor inFlight), or moves its end
// there when it is held already (in flight, for one).
func (t *idTable) set(id idKey, expires int64) {
	p := t.part(id)
	if (p.n+1)*4 > len(p.slots)*3 {
		p.grow()
	}
	i, ok := p.find(id)
	if !ok {
		p.n++
		t.n++
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
	if len(p.slots) == 0 {
		return -1, false
	}
	mask := len(p.slots) - 1
	for i := int(id[0] & uint64(mask)); ; i = (i + 1) & mask {
		s := &p.slots[i]
		if s.expires == 0 {
			return i, false
		}
		if s.id == id {
			return i, true
		}
	}
}

// grow doubles the part (16 slots at first) and places every id again.
func (p *idPart) grow() {
	old := p.slots
	p.slots = make([]seenAt, max(16, 2*len(old)))
	for _, s := range old {
		if s.expires != 0 {
			i, _ := p.find(s.id)
			p.slots[i] = s
		}
	}
}

// removeAt empties slot i, moving later slots of its probe run back so
// that every id stays reachable from its home slot (no tombstones).
func (p *idPart) removeAt(i int) {
	mask := len(p.slots) - 1
	for j := (i + 1) & mask; p.slots[j].expires != 0; j = (j + 1) & mask {
		home := int(p.slots[j].id[0] & uint64(mask))
		// The id at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if i < j && (home <= i || home > j) || i > j && home <= i && home > j {
			p.slots[i] = p.slots[j]
			i = j
		}
	}
	p.slots[i] = seenAt{}
	p.n--
}
