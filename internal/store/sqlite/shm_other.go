//go:build !(linux || darwin || freebsd)

package sqlite

// shmHeader is mapped on Unix only; elsewhere the lifecycle watch reads
// the log every interval.
type shmHeader struct{}

func newSHMHeader(string) *shmHeader   { return &shmHeader{} }
func (*shmHeader) stamp([]byte) []byte { return nil }
func (*shmHeader) close()              {}
