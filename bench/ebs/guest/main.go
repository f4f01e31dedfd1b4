// Command guest is the part of bench/ebs that runs inside an instance. bench/ebs builds it static
// (CGO_ENABLED=0), copies it in over SSH and runs it there with sudo, so that everything it measures is what
// the instance itself sees of its block devices. It has four subcommands:
//
//	guest wait -path /dev/xvdf -present=true   print "ready <unix ns>", then "seen <unix ns>" once the path
//	                                           exists (or, with -present=false, is gone)
//	guest fill -dev /dev/xvdf                  write random data over the whole device
//	guest scatter -dev /dev/xvdf -bytes N -block B -seed S
//	                                           overwrite N bytes as N/B random, distinct, B-aligned blocks
//	guest iops -dev /dev/xvdf -rw randread -bs 4096 -depth 16 -duration 5s
//	                                           random O_DIRECT I/O for a fixed time; prints one result line
//
// Writes use O_DIRECT and end with fsync, so they have reached the volume's file on the host before the
// command returns, not only the page cache of the device.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guest wait|fill|scatter|iops [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{"wait": wait, "fill": fill, "scatter": scatter, "iops": iops}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "guest: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "guest:", err)
		os.Exit(1)
	}
}

// wait polls every 0.5 ms. The host reads the times it prints against its own clock, which inside a
// container is the same clock.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	path := fs.String("path", "/dev/xvdf", "path to watch")
	present := fs.Bool("present", true, "wait for the path to exist (false: to be gone)")
	timeout := fs.Duration("timeout", time.Minute, "give up after")
	_ = fs.Parse(args)
	fmt.Printf("ready %d\n", time.Now().UnixNano())
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		_, err := os.Stat(*path)
		if (err == nil) == *present {
			fmt.Printf("seen %d\n", time.Now().UnixNano())
			return nil
		}
		time.Sleep(500 * time.Microsecond)
	}
	return fmt.Errorf("%s: present=%v not reached in %s", *path, *present, *timeout)
}

// openDirect opens a block device for O_DIRECT I/O and returns its size.
func openDirect(path string, write bool) (*os.File, int64, error) {
	mode := os.O_RDONLY
	if write {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(path, mode|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// alignedBuffer is page-aligned memory, as O_DIRECT requires.
func alignedBuffer(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func fill(args []string) error {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	dev := fs.String("dev", "/dev/xvdf", "block device")
	seed := fs.Uint64("seed", 1, "random seed")
	_ = fs.Parse(args)
	f, size, err := openDirect(*dev, true)
	if err != nil {
		return err
	}
	defer f.Close()
	const block = 1 << 20
	buf, err := alignedBuffer(block)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8(seedBytes("fill", *seed))
	for off := int64(0); off < size; off += block {
		n := int(min(block, size-off))
		_, _ = rng.Read(buf[:n])
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fmt.Printf("filled %d bytes\n", size)
	return nil
}

func scatter(args []string) error {
	fs := flag.NewFlagSet("scatter", flag.ExitOnError)
	dev := fs.String("dev", "/dev/xvdf", "block device")
	total := fs.Int64("bytes", 10<<20, "bytes to overwrite")
	block := fs.Int("block", 1<<20, "size of each write; writes are aligned to it")
	seed := fs.Uint64("seed", 2, "random seed")
	_ = fs.Parse(args)
	if *block < 4096 || *block%4096 != 0 {
		return errors.New("-block must be a multiple of 4096")
	}
	f, size, err := openDirect(*dev, true)
	if err != nil {
		return err
	}
	defer f.Close()
	slots := size / int64(*block)
	count := *total / int64(*block)
	if count > slots {
		return fmt.Errorf("%d blocks of %d bytes do not fit in %d bytes", count, *block, size)
	}
	rng := rand.New(rand.NewPCG(*seed, *seed))
	picked := map[int64]bool{}
	for int64(len(picked)) < count {
		picked[rng.Int64N(slots)] = true
	}
	buf, err := alignedBuffer(*block)
	if err != nil {
		return err
	}
	data := rand.NewChaCha8(seedBytes("scatter", *seed))
	for slot := range picked {
		_, _ = data.Read(buf)
		if _, err := f.WriteAt(buf, slot*int64(*block)); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fmt.Printf("overwrote %d blocks of %d bytes\n", count, *block)
	return nil
}

// iops keeps depth requests in flight (one goroutine each, as fio's psync engine with numjobs=depth would) at
// random bs-aligned offsets for duration, and prints the completed operations per second and the latencies.
func iops(args []string) error {
	fs := flag.NewFlagSet("iops", flag.ExitOnError)
	dev := fs.String("dev", "/dev/xvdf", "block device")
	rw := fs.String("rw", "randread", "randread or randwrite")
	bs := fs.Int("bs", 4096, "block size")
	depth := fs.Int("depth", 16, "requests in flight")
	duration := fs.Duration("duration", 5*time.Second, "how long to run")
	_ = fs.Parse(args)
	write := *rw == "randwrite"
	if !write && *rw != "randread" {
		return fmt.Errorf("-rw %q: want randread or randwrite", *rw)
	}
	f, size, err := openDirect(*dev, write)
	if err != nil {
		return err
	}
	defer f.Close()
	slots := size / int64(*bs)
	var (
		ops      atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*duration)
	for w := range *depth {
		buf, err := alignedBuffer(*bs)
		if err != nil {
			return err
		}
		_, _ = rand.NewChaCha8(seedBytes("iops", uint64(w))).Read(buf)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []time.Duration
			for time.Now().Before(deadline) {
				off := rng.Int64N(slots) * int64(*bs)
				t0 := time.Now()
				var err error
				if write {
					_, err = f.WriteAt(buf, off)
				} else {
					_, err = f.ReadAt(buf, off)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				ops.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	fmt.Printf("ops=%d seconds=%.3f iops=%.1f p50ms=%.2f p99ms=%.2f\n",
		ops.Load(), elapsed.Seconds(), float64(ops.Load())/elapsed.Seconds(), p(0.50), p(0.99))
	return nil
}

// seedBytes makes a ChaCha8 seed of a command's name and a number, so that no two commands write the same
// bytes: a block the store has seen before costs it nothing, and would hide a change.
func seedBytes(command string, s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	copy(b[8:], command)
	return b
}
