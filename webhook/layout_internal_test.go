package webhook

import (
	"testing"
	"unsafe"
)

// The counts every request writes are kept off the lines of what every
// request only reads, and the RouteLogger's shards are a cache line each
// (see the comments on Webhook, seenIDs and RouteLogger).
func TestHotFieldsOnLinesOfTheirOwn(t *testing.T) {
	const line = 64
	l := NewRouteLogger(JSONField("messageId"))
	// The shard's padding is laid out for 8-byte pointers (with 4-byte ones
	// it is 112 bytes: correct, only not line-sized).
	if unsafe.Sizeof(uintptr(0)) == 8 && (unsafe.Sizeof(shard{}) != 2*line || unsafe.Offsetof(shard{}.m) != line) {
		t.Errorf("a shard is %d bytes, its second part at %d: want two %d-byte lines", unsafe.Sizeof(shard{}), unsafe.Offsetof(shard{}.m), line)
	}
	for i := range 3 {
		if a := uintptr(unsafe.Pointer(l.shards[i])); a%line != 0 {
			t.Errorf("shard %d at %#x straddles lines", i, a)
		}
	}
	w := New(Config{Secret: []byte("s")})
	readBy := uintptr(unsafe.Pointer(&w.macs)) + unsafe.Sizeof(w.macs) - 1
	if a := uintptr(unsafe.Pointer(&w.budget)); a/line <= readBy/line {
		t.Errorf("the budget shares a line with the fields every request reads")
	}
	var s seenIDs
	if a, b := uintptr(unsafe.Pointer(&s.mu)), uintptr(unsafe.Pointer(&s.max)); a/line == b/line {
		t.Errorf("seenIDs' lock shares a line with its read-only fields")
	}
	if a, b := uintptr(unsafe.Pointer(&s.head)), uintptr(unsafe.Pointer(&s.ids.n)); b-a > line-8 {
		t.Errorf("what seenIDs writes on every id spans %d bytes, more than a line", b-a+8)
	}
}
