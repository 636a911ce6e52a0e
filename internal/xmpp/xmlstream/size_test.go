package xmlstream

import (
	"strings"
	"testing"
	"unsafe"
)

// readerBound is the size class Reader must stay within. It was a 64-byte
// Reader plus its budget in a 64-byte allocation of its own; the budget
// inline (counting down, and without the opened flag, which the header
// tells) makes one of 96.
const readerBound = 96

// TestReaderSize guards what every idle XMPP stream holds (docs/benchmarks.md,
// idle sessions): a field added to Reader or budget costs every stream; keep
// it within Go's size class on 64-bit platforms, or raise the bound
// knowingly.
func TestReaderSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(Reader{}) > readerBound {
		t.Errorf("Reader is %d bytes, more than the %d every idle stream pays for", unsafe.Sizeof(Reader{}), readerBound)
	}
}

var sink any

// TestReaderIsOneAllocation: beyond its decoder's, a Reader costs one
// allocation, itself: its budget is inline (TestReaderSize alone would not
// see a budget allocated apart).
func TestReaderIsOneAllocation(t *testing.T) {
	in := strings.NewReader("")
	dec := testing.AllocsPerRun(100, func() { sink = newDecoder(in) })
	rd := testing.AllocsPerRun(100, func() { sink = NewReader(in, DefaultLimits) })
	if rd-dec != 1 {
		t.Errorf("a Reader makes %v allocations besides its decoder's %v, want 1", rd-dec, dec)
	}
}
