// Command writefloor measures the floor under presenced's fan-out on this
// machine: what one write(2) of a small frame to each of many loopback TCP
// sockets costs, with the readers in another process. It is a measuring
// tool, not part of the server.
//
//	go run ./bench/writefloor --conns 1000 --rounds 1000 --rate 100 --reader netpoll
//
// The writer (this process) accepts --conns connections from a reader
// child (this binary again, with --role reader), then every 1/rate seconds
// writes one --size byte frame to every connection from one goroutine with
// a raw write(2) per socket, as presenced's flush workers do. It prints the
// writer's CPU per write (getrusage: user and system, which on this kernel
// includes the loopback softirq run in the writer's context: the
// receiver's TCP processing and the wake-up of its poller), the time one
// round of writes takes, and what the reader reports: its own CPU per
// frame and the latency of each frame (written time to read time, both
// CLOCK_MONOTONIC, so comparable across the two processes).
//
// --reader picks how the child reads:
//
//	none     raw sockets outside any epoll set, never read: no wake-up at all
//	netpoll  a goroutine per connection reading through Go's netpoller, as
//	         the Go client (and so bench fanout's load generator) does
//	busy     netpoll, plus --work µs of CPU spent per frame read
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	role := flag.String("role", "writer", "writer (the default) or reader (the child)")
	conns := flag.Int("conns", 1000, "connections")
	rounds := flag.Int("rounds", 1000, "rounds: one frame to every connection each")
	rate := flag.Float64("rate", 100, "rounds per second")
	size := flag.Int("size", 100, "bytes per frame (at least 16)")
	reader := flag.String("reader", "netpoll", "none, netpoll or busy")
	work := flag.Duration("work", 5*time.Microsecond, "busy: CPU spent per frame read")
	addr := flag.String("addr", "", "reader: the writer's address")
	flag.Parse()
	if *size < 16 {
		*size = 16
	}
	if *reader == "none" && *rounds**size > 64<<10 {
		// Never read, each socket must hold every frame: a blocking write
		// to a full one would hang the writer.
		fmt.Fprintln(os.Stderr, "writefloor: --reader none needs rounds × size ≤ 64 KiB (the socket's receive buffer)")
		os.Exit(2)
	}
	var err error
	if *role == "reader" {
		err = read(*addr, *conns, *rounds, *size, *reader, *work)
	} else {
		err = write(*conns, *rounds, *rate, *size, *reader, *work)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "writefloor:", err)
		os.Exit(1)
	}
}

func monoNow() int64 {
	var ts syscall.Timespec
	// CLOCK_MONOTONIC is 1: the same clock in both processes.
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuSplit() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func write(conns, rounds int, rate float64, size int, reader string, work time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	self, _ := os.Executable()
	child := exec.Command(self, "--role", "reader", "--addr", ln.Addr().String(),
		"--conns", strconv.Itoa(conns), "--rounds", strconv.Itoa(rounds), "--size", strconv.Itoa(size),
		"--reader", reader, "--work", work.String())
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	var fds []int
	var keep []*os.File
	for len(fds) < conns {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		// A dup outside Go's poller: the writes below are plain blocking-free
		// write(2) calls on a socket that never fills (100 B per round).
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			return err
		}
		c.Close()
		keep = append(keep, f)
		fds = append(fds, int(f.Fd()))
	}
	time.Sleep(500 * time.Millisecond) // let the reader settle into its reads
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = 'x'
	}
	var roundTimes []time.Duration
	period := time.Duration(float64(time.Second) / rate)
	u0, s0 := cpuSplit()
	start := time.Now()
	short := 0
	for r := 0; r < rounds; r++ {
		if d := time.Until(start.Add(time.Duration(r) * period)); d > 0 {
			time.Sleep(d)
		}
		t0 := time.Now()
		for _, fd := range fds {
			binary.LittleEndian.PutUint64(buf[0:], uint64(monoNow()))
			binary.LittleEndian.PutUint64(buf[8:], uint64(r))
			n, err := syscall.Write(fd, buf)
			if err != nil || n != len(buf) {
				short++
			}
		}
		roundTimes = append(roundTimes, time.Since(t0))
	}
	elapsed := time.Since(start)
	u1, s1 := cpuSplit()
	writes := float64(conns * rounds)
	rep, _ := readAll(out)
	child.Wait()
	slices.Sort(roundTimes)
	user, sys := u1-u0, s1-s0
	fmt.Printf("writer: %d writes of %d B to %d sockets, %d rounds at %.0f/s (%.1f/s reached), reader %s, GOMAXPROCS %d, %d short or failed\n",
		int(writes), size, conns, rounds, rate, float64(rounds)/elapsed.Seconds(), reader, runtime.GOMAXPROCS(0), short)
	fmt.Printf("writer CPU per write: %.2f µs (user %.2f, system %.2f); %.0f%% of one core\n",
		float64((user+sys).Nanoseconds())/writes/1e3, float64(user.Nanoseconds())/writes/1e3,
		float64(sys.Nanoseconds())/writes/1e3, 100*(user+sys).Seconds()/elapsed.Seconds())
	fmt.Printf("one round of %d writes: p50 %v, p99 %v, max %v\n", conns,
		roundTimes[len(roundTimes)/2].Round(time.Microsecond), roundTimes[len(roundTimes)*99/100].Round(time.Microsecond),
		roundTimes[len(roundTimes)-1].Round(time.Microsecond))
	fmt.Print(rep)
	for _, f := range keep {
		f.Close()
	}
	return nil
}

func readAll(r interface{ Read([]byte) (int, error) }) (string, error) {
	var sb strings.Builder
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		sb.Write(b[:n])
		if err != nil {
			return sb.String(), nil
		}
	}
}

func read(addr string, conns, rounds, size int, mode string, work time.Duration) error {
	if mode == "none" {
		return readNone(addr, conns, rounds, size)
	}
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		cs[i] = c
	}
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	c0 := cpuNow()
	for _, c := range cs {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			own := make([]time.Duration, 0, rounds)
			b := make([]byte, 64<<10)
			have := 0
			got := 0
			for got < rounds {
				n, err := c.Read(b[have:])
				if err != nil {
					break
				}
				now := monoNow()
				have += n
				for have >= size {
					sent := int64(binary.LittleEndian.Uint64(b))
					own = append(own, time.Duration(now-sent))
					if mode == "busy" {
						for t := monoNow(); monoNow()-t < int64(work); {
						}
					}
					copy(b, b[size:have])
					have -= size
					got++
				}
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	cpu := cpuNow() - c0
	report(mode, cpu, lat, conns*rounds)
	return nil
}

// readNone opens raw sockets that no epoll set watches and never reads
// them until the writer is done: the writes wake nobody.
func readNone(addr string, conns, rounds, size int) error {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return err
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	fds := make([]int, conns)
	for i := range fds {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		if err := syscall.Connect(fd, sa); err != nil {
			return err
		}
		fds[i] = fd
	}
	c0 := cpuNow()
	// Wait until the last socket holds every frame, polling rarely.
	want := rounds * size
	for {
		time.Sleep(200 * time.Millisecond)
		var n int32
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fds[len(fds)-1]), 0x541B, uintptr(unsafe.Pointer(&n))) // FIONREAD
		if e != 0 || int(n) >= want {
			break
		}
	}
	cpu := cpuNow() - c0
	fmt.Printf("reader (none): %v CPU while the writer wrote (nothing read, nothing woken)\n", cpu.Round(time.Millisecond))
	return nil
}

func report(mode string, cpu time.Duration, lat []time.Duration, want int) {
	slices.Sort(lat)
	if len(lat) == 0 {
		fmt.Printf("reader (%s): nothing read\n", mode)
		return
	}
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond) }
	fmt.Printf("reader (%s): %d of %d frames; CPU per frame %.2f µs (%v in all)\n", mode, len(lat), want,
		float64(cpu.Nanoseconds())/float64(len(lat))/1e3, cpu.Round(time.Millisecond))
	fmt.Printf("latency written→read: p50 %v, p99 %v, max %v\n", q(0.5), q(0.99), q(1))
}
