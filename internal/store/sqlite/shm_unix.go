//go:build linux || darwin || freebsd

package sqlite

import (
	"os"
	"sync"
	"syscall"
)

// walIndexHeader is the size of the WAL-index header at the start of the
// database's -shm file (SQLite's WalIndexHdr): every commit, by any
// process, rewrites it (its change counter, the WAL's last frame, the
// checksums), the copy at offset 0 last, once the commit is readable.
const walIndexHeader = 48

// shmHeader maps the first page of a database's -shm file read-only, to
// look at the WAL-index header: whether anything committed since the last
// look costs a memory read, not a query (issue 9: an idle server's
// lifecycle watch).
type shmHeader struct {
	path string // the -shm file; "" when it cannot be known
	mu   sync.Mutex
	mem  []byte // the mapping; nil until the file could be mapped
}

func newSHMHeader(path string) *shmHeader { return &shmHeader{path: path} }

// stamp appends the header to dst; nil when the file cannot be mapped
// (yet): the watch then reads the log.
func (m *shmHeader) stamp(dst []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem == nil && !m.mapLocked() {
		return nil
	}
	return append(dst, m.mem[:walIndexHeader]...)
}

// mapLocked maps the file's first page, if the file is at least that
// long (a mapping past its end faults when read).
func (m *shmHeader) mapLocked() bool {
	if m.path == "" {
		return false
	}
	f, err := os.Open(m.path)
	if err != nil {
		return false
	}
	defer f.Close()
	page := os.Getpagesize()
	if fi, err := f.Stat(); err != nil || fi.Size() < int64(page) {
		return false
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, page, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return false
	}
	m.mem = mem
	return true
}

// close unmaps the file.
func (m *shmHeader) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem != nil {
		syscall.Munmap(m.mem)
		m.mem = nil
	}
}
