//go:build !linux || race

package client

import "net"

// rawReads returns nc: raw reads are for Linux, and not for race-detector
// builds (rawread_linux.go).
func rawReads(nc net.Conn) net.Conn { return nc }
