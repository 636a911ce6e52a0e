package ws

import (
	"testing"
	"unsafe"
)

// connBound is the size class conn must stay within. It was 160 bytes;
// the read-ahead of a woken connection (pre as a slice of a pooled buffer,
// preBuf: one read system call per heartbeat, issue 9's idle CPU) raised
// it knowingly to 176.
const connBound = 176

// TestConnSize guards what every idle WebSocket session holds here
// (docs/benchmarks.md, idle sessions): a field added to conn costs every
// connection; keep it within Go's size class on 64-bit platforms, or raise
// the bound knowingly.
func TestConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(conn{}) > connBound {
		t.Errorf("conn is %d bytes, more than the %d every idle connection pays for", unsafe.Sizeof(conn{}), connBound)
	}
}
