//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes an exclusive flock(2) on the data directory's lock
// file, or fails with ErrDataDirInUse when another process (or another
// Server in this one) holds it. The kernel releases the lock when the file
// is closed or the process dies, so a killed server leaves no stale lock.
func lockDataDir(dataDir string) (release func() error, err error) {
	path := filepath.Join(dataDir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := ""
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid := strings.TrimSpace(string(b)); pid != "" {
					holder = " (process " + pid + ")"
				}
			}
			return nil, fmt.Errorf("%w%s: %s; stop it first, or give this one another --data-dir", ErrDataDirInUse, holder, dataDir)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	// the pid is only for the message above; the lock is the flock
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f.Close, nil
}
