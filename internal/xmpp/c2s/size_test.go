package c2s

import (
	"testing"
	"unsafe"
)

// connBound is the size class conn must stay within. It was 256 bytes
// (248 with a closure beside it); the transport's close as the framing's
// method and the bound resource read from the core session made it 232.
const connBound = 240

// TestConnSize guards what every idle XMPP stream holds here
// (docs/benchmarks.md, idle XMPP sessions): a field added to conn costs
// every stream; keep it within Go's size class on 64-bit platforms, or
// raise the bound knowingly.
func TestConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(conn{}) > connBound {
		t.Errorf("conn is %d bytes, more than the %d every idle stream pays for", unsafe.Sizeof(conn{}), connBound)
	}
}

// liveBound is the size class live must stay within: 144 bytes until the
// caps query's id was made from the caps instead of kept, and the flags
// shared a word.
const liveBound = 128

// TestLiveSize guards the rest of what every bound stream holds.
func TestLiveSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(live{}) > liveBound {
		t.Errorf("live is %d bytes, more than the %d every bound stream pays for", unsafe.Sizeof(live{}), liveBound)
	}
}
