// Command go-mutex-map is the Go daemon's original fix as a row of the
// channel-registry benchmark (bench/README.md): a map[uint64]chan string
// guarded by one sync.Mutex, run on the same workload spec as the Rust
// harness, which builds this program and runs it once per run.
//
// The op sequence is the Rust harness's exactly: every worker draws ids and
// ops from the same xorshift64* with the same seed (worker index + 1) and
// the same reduction (next % n); the jittered latency sampler draws from a
// second generator seeded like the Rust one. `-print-ops N` prints both
// sequences so that a test can compare them with the Rust harness's.
//
// Like the original, neither a replacing set nor a delete closes the old
// channel: it is simply dropped from the map and left to the garbage
// collector.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// capacity is the daemon's make(chan string, 5).
const capacity = 5

// msg is what every send carries (a constant string: no allocation).
const msg = "event"

// jitterSeed is xor-ed with worker index + 1 to seed the latency sampler's
// generator, as in the Rust harness.
const jitterSeed = 0x9E3779B97F4A7C15

// registry is the original fix: one mutex around the whole map.
type registry struct {
	mu sync.Mutex
	m  map[uint64]chan string
}

// set installs a new channel under id; the old one is not closed.
func (r *registry) set(id uint64) {
	r.mu.Lock()
	r.m[id] = make(chan string, capacity)
	r.mu.Unlock()
}

// del removes id; its channel is not closed.
func (r *registry) del(id uint64) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// send looks id up under the lock, then sends without blocking after
// releasing it (a full channel drops the message).
func (r *registry) send(id uint64) {
	r.mu.Lock()
	ch, ok := r.m[id]
	r.mu.Unlock()
	if ok {
		select {
		case ch <- msg:
		default:
		}
	}
}

// xorshift is xorshift64* (Vigna), the Rust harness's XorShift64Star.
type xorshift struct{ s uint64 }

func newXorshift(seed uint64) *xorshift {
	if seed == 0 {
		seed = 1
	}
	return &xorshift{seed}
}

func (x *xorshift) next() uint64 {
	s := x.s
	s ^= s >> 12
	s ^= s << 25
	s ^= s >> 27
	x.s = s
	return s * 0x2545F4914F6CDD1D
}

// below is next() % n, the Rust harness's `below`.
func (x *xorshift) below(n uint64) uint64 { return x.next() % n }

type op int

const (
	opSend op = iota
	opSet
	opDelete
)

func (o op) String() string {
	return [...]string{"send", "set", "delete"}[o]
}

// config is one run.
type config struct {
	workload string
	send     uint64
	set      uint64
	keys     uint64
	threads  int
	ops      uint64
	jitter   bool
	heldPin  bool
}

// nextOp draws an id, then the op, exactly as the Rust harness does.
func nextOp(rng *xorshift, c *config) (uint64, op) {
	id := rng.below(c.keys)
	p := rng.below(100)
	switch {
	case p < c.send:
		return id, opSend
	case p < c.send+c.set:
		return id, opSet
	default:
		return id, opDelete
	}
}

// sampler picks the one timed op of each block of 64.
type sampler struct {
	jitter bool
	pick   *xorshift
	target uint64
}

func newSampler(w int, jitter bool) *sampler {
	return &sampler{jitter: jitter, pick: newXorshift(jitterSeed ^ uint64(w+1))}
}

// timed says whether op i is timed: one at a pseudo-random offset in each
// block of 64 (jitter), or ops 0, 64, 128, ... (stride).
func (s *sampler) timed(i uint64) bool {
	if !s.jitter {
		return i&63 == 0
	}
	if i&63 == 0 {
		s.target = i + s.pick.next()%64
	}
	return i == s.target
}

func (r *registry) do(id uint64, o op) {
	switch o {
	case opSend:
		r.send(id)
	case opSet:
		r.set(id)
	default:
		r.del(id)
	}
}

func prefill(c *config) *registry {
	r := &registry{m: make(map[uint64]chan string, c.keys)}
	for id := uint64(0); id < c.keys; id++ {
		r.set(id)
	}
	return r
}

// workerResult is what one worker hands back.
type workerResult struct {
	begin, end time.Time
	samples    []uint32
}

// worker waits at the barrier, then runs its ops, timing the sampled ones.
func worker(r *registry, c *config, w int, ready *sync.WaitGroup, start <-chan struct{}, timing bool, out *workerResult) {
	rng := newXorshift(uint64(w + 1))
	smp := newSampler(w, c.jitter)
	var samples []uint32
	if timing {
		samples = make([]uint32, 0, c.ops/64+1)
	}
	ready.Done()
	<-start
	begin := time.Now()
	for i := uint64(0); i < c.ops; i++ {
		id, o := nextOp(rng, c)
		if timing && smp.timed(i) {
			t0 := time.Now()
			r.do(id, o)
			d := time.Since(t0)
			if d > 0xFFFFFFFF {
				d = 0xFFFFFFFF
			}
			samples = append(samples, uint32(d))
		} else {
			r.do(id, o)
		}
	}
	*out = workerResult{begin, time.Now(), samples}
}

// pinHolder mirrors the Rust harness's held-pin thread for a structure with
// no deferred reclamation: nothing to hold, so it only keeps the schedule
// (10 ms "held", 1 ms gap) until the workers finish.
func pinHolder(start <-chan struct{}, done <-chan struct{}, exited chan<- struct{}) {
	<-start
	for {
		select {
		case <-done:
			close(exited)
			return
		case <-time.After(10 * time.Millisecond):
		}
		select {
		case <-done:
			close(exited)
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// runWorkers runs the workers behind one barrier (plus the pin holder for
// the held-pin cell) and returns the wall time from the earliest worker's
// start to the last worker's end, and every sample.
func runWorkers(r *registry, c *config, timing bool) (float64, []uint32) {
	var ready sync.WaitGroup
	start := make(chan struct{})
	results := make([]workerResult, c.threads)
	var finished sync.WaitGroup
	ready.Add(c.threads)
	finished.Add(c.threads)
	for w := 0; w < c.threads; w++ {
		w := w
		go func() {
			defer finished.Done()
			worker(r, c, w, &ready, start, timing, &results[w])
		}()
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	if c.heldPin {
		go pinHolder(start, done, exited)
	} else {
		close(exited)
	}
	ready.Wait()
	close(start)
	finished.Wait()
	close(done)
	<-exited
	var samples []uint32
	var begin, end time.Time
	for i, res := range results {
		if i == 0 || res.begin.Before(begin) {
			begin = res.begin
		}
		if i == 0 || res.end.After(end) {
			end = res.end
		}
		samples = append(samples, res.samples...)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	if c.threads == 0 {
		return 0, samples
	}
	return end.Sub(begin).Seconds(), samples
}

// pct is the Rust harness's percentile: the ceil(n*q)-th smallest sample.
func pct(sorted []uint32, q float64) uint32 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(float64(n) * q))
	if i < 1 {
		i = 1
	}
	if i > n {
		i = n
	}
	return sorted[i-1]
}

// clockCost is time.Now()'s back-to-back cost, mean ns (not subtracted).
func clockCost() float64 {
	const n = 200000
	t := time.Now()
	var last time.Time
	for i := 0; i < n; i++ {
		last = time.Now()
	}
	return float64(last.Sub(t).Nanoseconds()) / n
}

// timedRun prints the harness's line and a detail line for the Rust side.
func timedRun(c *config) {
	clock := clockCost()
	t := time.Now()
	r := prefill(c)
	prefillS := time.Since(t).Seconds()
	wall, s := runWorkers(r, c, true)
	total := c.ops * uint64(c.threads)
	var max uint32
	if len(s) > 0 {
		max = s[len(s)-1]
	}
	fmt.Printf("impl=go-mutex-map workload=%s threads=%d keys=%d ops=%d ops_per_sec=%.0f p50_ns=%d p99_ns=%d p999_ns=%d p9999_ns=%d max_ns=%d\n",
		c.workload, c.threads, c.keys, total, float64(total)/wall,
		pct(s, 0.5), pct(s, 0.99), pct(s, 0.999), pct(s, 0.9999), max)
	fmt.Printf("go wall_s=%.9f samples=%d clock_ns=%.1f prefill_s=%.6f gomaxprocs=%d version=%s\n",
		wall, len(s), clock, prefillS, runtime.GOMAXPROCS(0), runtime.Version())
}

// heapObjects is the Go heap's bytes in objects, live or dead but not yet
// swept ("/memory/classes/heap/objects:bytes").
func heapObjects(s []metrics.Sample) int64 {
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// garbageRun runs the cell untimed with a sampler goroutine reading the
// heap every millisecond; garbage = peak heap objects during the run minus
// the heap objects right after prefill and a full collection.
func garbageRun(c *config) {
	r := prefill(c)
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	base := heapObjects(s)
	var peak atomic.Int64
	peak.Store(base)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapObjects(s); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				close(stopped)
				return
			case <-tick.C:
			}
		}
	}()
	wall, _ := runWorkers(r, c, false)
	close(stop)
	<-stopped
	if v := heapObjects(s); v > peak.Load() {
		peak.Store(v)
	}
	total := c.ops * uint64(c.threads)
	fmt.Printf("garbage impl=go-mutex-map workload=%s keys=%d threads=%d bytes=%d ops_per_sec=%.0f\n",
		c.workload, c.keys, c.threads, peak.Load()-base, float64(total)/wall)
	runtime.KeepAlive(r)
}

// printOps prints the first n ops of every worker: worker, index, id, op,
// and whether the jittered sampler times it.
func printOps(c *config, n uint64) {
	for w := 0; w < c.threads; w++ {
		rng := newXorshift(uint64(w + 1))
		smp := newSampler(w, c.jitter)
		for i := uint64(0); i < n; i++ {
			id, o := nextOp(rng, c)
			t := 0
			if smp.timed(i) {
				t = 1
			}
			fmt.Printf("%d %d %d %s %d\n", w, i, id, o, t)
		}
	}
}

func main() {
	c := config{}
	flag.StringVar(&c.workload, "workload", "mixed", "workload name, printed in the output line")
	flag.Uint64Var(&c.send, "send", 90, "send share, percent")
	flag.Uint64Var(&c.set, "set", 5, "set share, percent (delete takes the rest)")
	flag.Uint64Var(&c.keys, "keys", 1024, "ids, all prefilled")
	flag.IntVar(&c.threads, "threads", 1, "workers (goroutines)")
	flag.Uint64Var(&c.ops, "ops", 1000000, "ops per worker")
	sampling := flag.String("sampling", "jitter", "jitter or stride")
	flag.BoolVar(&c.heldPin, "held-pin", false, "the held-pin cell: an extra goroutine keeps the pin holder's schedule (nothing to hold)")
	garbage := flag.Bool("garbage", false, "untimed run measuring peak heap garbage instead")
	ops := flag.Uint64("print-ops", 0, "print the first N ops of every worker and exit")
	flag.Parse()
	fail := func(m string) {
		fmt.Fprintf(os.Stderr, "go-mutex-map: %s\n", m)
		flag.Usage()
		os.Exit(2)
	}
	switch {
	case flag.NArg() > 0:
		fail(fmt.Sprintf("unexpected argument %q", flag.Arg(0)))
	case *sampling != "jitter" && *sampling != "stride":
		fail(fmt.Sprintf("-sampling: %q is not jitter or stride", *sampling))
	case c.keys == 0:
		fail("-keys must be at least 1")
	case c.threads < 0:
		fail("-threads must not be negative")
	case c.send+c.set > 100:
		fail("-send plus -set exceeds 100")
	}
	c.jitter = *sampling == "jitter"
	switch {
	case *ops > 0:
		printOps(&c, *ops)
	case *garbage:
		garbageRun(&c)
	default:
		timedRun(&c)
	}
}
