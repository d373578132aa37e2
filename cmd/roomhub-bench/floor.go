package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The write floor is the least CPU one delivery can cost on this machine:
// a bare fan-out that writes one pre-built WebSocket frame of the events
// phase's size to each of as many loopback sockets as there are members,
// one write(2) each, with nothing else (no queue, no lock, no library). It
// is the writing thread's own CPU time, which on loopback includes the
// kernel's work for the receiving side, as the nodes' figure does. The
// harness measures it in the same run as the nodes' CPU per delivery, on
// the same machine under the same load, so the ratio between the two says
// how much the hub adds to the unavoidable system call.

// floorRounds bounds the floor's measurement: each round writes one frame
// to every socket.
const floorRounds = 5

// writeFloor opens n loopback connection pairs with readers draining them,
// then fans a frame of frameLen payload bytes out to all n from one
// goroutine locked to its thread, floorRounds times, and returns that
// thread's CPU per write.
func writeFloor(ctx context.Context, n, frameLen int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var (
		writers []net.Conn
		readers sync.WaitGroup
		all     []net.Conn
	)
	defer func() {
		for _, c := range all {
			c.Close()
		}
		readers.Wait()
	}()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		w, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return 0, fmt.Errorf("write floor: dial %d: %w", i, err)
		}
		r, ok := <-accepted
		if !ok {
			w.Close()
			return 0, errors.New("write floor: listener closed")
		}
		writers = append(writers, w)
		all = append(all, w, r)
		readers.Add(1)
		go func() { defer readers.Done(); io.Copy(io.Discard, r) }()
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	// A server frame: FIN + text opcode, then the length (payloads up to
	// 125 bytes fit the first byte, up to 65535 take two more).
	frame := []byte{0x81}
	if frameLen <= 125 {
		frame = append(frame, byte(frameLen))
	} else {
		frame = append(frame, 126, byte(frameLen>>8), byte(frameLen))
	}
	for i := 0; i < frameLen; i++ {
		frame = append(frame, 'x')
	}
	done := make(chan struct{})
	var cpu time.Duration
	var werr error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0, err := threadCPU()
		if err != nil {
			werr = err
			return
		}
		for round := 0; round < floorRounds; round++ {
			for _, w := range writers {
				if _, err := w.Write(frame); err != nil {
					werr = err
					return
				}
			}
		}
		t1, err := threadCPU()
		if err != nil {
			werr = err
			return
		}
		cpu = t1 - t0
	}()
	<-done
	if werr != nil {
		return 0, fmt.Errorf("write floor: %w", werr)
	}
	return cpu / time.Duration(floorRounds*len(writers)), nil
}

// floorSockets is how many connection pairs the floor can open beside
// what the harness holds: as many as members, or fewer when the open-file
// limit (two descriptors a pair here) does not allow it.
func floorSockets(members int) int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return members
	}
	open := 0
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = len(ents)
	}
	room := (int(l.Cur) - open - 200) / 2
	return max(1, min(members, room))
}

// threadCPU is the calling thread's CPU time, user and system.
func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
