package webhook

import (
	"strings"
	"testing"
	"unsafe"
)

// TestJoinChunksKeepsNoMoreThanItsLength: a body string never pins much more
// memory than its length (what the RouteLogger's byte bounds count): a
// chunk its bytes nearly fill becomes the string as it is; a sparse one
// (4 KiB read for a 10-byte body of unknown length) is copied out; several
// chunks are joined.
func TestJoinChunksKeepsNoMoreThanItsLength(t *testing.T) {
	full := append(make([]byte, 0, 171), strings.Repeat("a", 170)...)
	if s := joinChunks([][]byte{full}, 170); s != strings.Repeat("a", 170) || unsafe.StringData(s) != &full[0] {
		t.Errorf("a full chunk was copied or changed")
	}
	sparse := append(make([]byte, 0, 4096), "0123456789"...)
	if s := joinChunks([][]byte{sparse}, 10); s != "0123456789" || unsafe.StringData(s) == &sparse[0] {
		t.Errorf("a sparse chunk was not copied out (or changed)")
	}
	if s := joinChunks([][]byte{[]byte("ab"), []byte("cd")}, 4); s != "abcd" {
		t.Errorf("joined %q", s)
	}
	if s := joinChunks(nil, 0); s != "" {
		t.Errorf("no chunks gave %q", s)
	}
}
