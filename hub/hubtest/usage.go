package hubtest

import (
	"os"
	"runtime"
	"testing"
)

// Usage is what the process holds: open file descriptors, goroutines and
// live heap after a collection. The release tests compare it before and
// after sockets come and go.
type Usage struct {
	FDs, Goroutines int
	Heap            uint64
}

// Measure collects garbage twice, then reads the process's usage.
func Measure(t testing.TB) Usage {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting file descriptors: %v", err)
	}
	return Usage{FDs: len(ents), Goroutines: runtime.NumGoroutine(), Heap: ms.HeapAlloc}
}
