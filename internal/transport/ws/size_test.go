package ws

import (
	"testing"
	"unsafe"
)

// TestConnSize guards what every idle WebSocket session holds here
// (docs/benchmarks.md, idle sessions): a field added to conn costs every
// connection; keep it within Go's 160-byte size class on 64-bit platforms,
// or raise the bound knowingly.
func TestConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(conn{}) > 160 {
		t.Errorf("conn is %d bytes, more than the 160 every idle connection pays for", unsafe.Sizeof(conn{}))
	}
}
