package orbital

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"

	"github.com/google/uuid"
)

// traceIDs makes random (version 4, RFC 9562) UUIDs from a ChaCha8 generator seeded once
// from crypto/rand, instead of a getrandom system call per id as uuid.NewString makes.
// ChaCha8 is a cryptographically strong generator, so ids stay unguessable. Safe for
// concurrent use.
type traceIDs struct {
	mu  sync.Mutex
	gen *rand.ChaCha8
}

// newTraceIDs seeds a generator from crypto/rand.
func newTraceIDs() *traceIDs {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand panics rather than return an error)
	return &traceIDs{gen: rand.NewChaCha8(seed)}
}

// next returns a new random UUID in its canonical form.
func (g *traceIDs) next() string {
	var id uuid.UUID
	g.mu.Lock()
	_, _ = g.gen.Read(id[:]) // ChaCha8.Read never fails
	g.mu.Unlock()
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return id.String()
}
