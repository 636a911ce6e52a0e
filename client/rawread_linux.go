//go:build linux && !race

package client

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawReads wraps a TCP connection so that its reads are raw read(2) calls
// on its non-blocking socket, waiting in Go's netpoller only when nothing
// is there (syscall.RawConn.Read). A read that cannot wait needs no word
// to the scheduler: net.Conn's Read enters and leaves a system call for
// each, which at a frame per read (the load generator's 1,000 watchers)
// kept the runtime's monitor thread waking every 20 µs to hand the
// reader's P to another thread. Deadlines and Close work as before: the
// wait is the netpoller's. Race-detector builds keep net.Conn's Read (see
// rawread_other.go), whose read the detector knows orders memory.
func rawReads(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return &rawReadConn{TCPConn: tc, rc: rc}
}

type rawReadConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *rawReadConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // nothing yet: wait in the netpoller
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
