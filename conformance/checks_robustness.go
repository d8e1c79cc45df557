package conformance

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/abi"
)

func (r *run) checkRobustness() {
	h := r.main
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), 1))

	r.timed("robustness.random-inputs", func() (Verdict, string) {
		n := r.opts.Streams
		specs := make([]*streamSpec, n)
		for i := range specs {
			specs[i] = randomStream(rng)
		}
		err := r.runMany(h, n, specs)
		return r.verdictOf(h, err, fmt.Sprintf("%d random streams (seed %d), no trap", n, r.opts.Seed))
	})
	r.timed("robustness.oversized", func() (Verdict, string) {
		err := r.runMany(h, 1, []*streamSpec{oversizedStream()})
		return r.verdictOf(h, err, "100 headers of 8 KiB, a 64 KiB header and 1 MiB bodies in 64 KiB chunks, both directions: no trap")
	})
	r.timed("robustness.empty", func() (Verdict, string) {
		err := r.runMany(h, 4, emptyStreams())
		return r.verdictOf(h, err, "headers-only stream, empty body chunk, only pseudo-headers, empty header values: no trap")
	})
	r.timed("robustness.chunked", func() (Verdict, string) {
		err := r.runMany(h, 1, []*streamSpec{chunkedStream(1000)})
		return r.verdictOf(h, err, "1000 one-byte body chunks per direction: no trap")
	})
	r.timed("robustness.non-utf8", func() (Verdict, string) {
		err := r.runMany(h, 1, []*streamSpec{nonUTF8Stream(rng)})
		return r.verdictOf(h, err, "header values with bytes 0x80-0xff, bodies with NUL and invalid UTF-8: no trap")
	})
	r.timed("robustness.memory-leak", func() (Verdict, string) { return r.leak(h) })
	r.timed("robustness.latency", func() (Verdict, string) { return r.latency(h) })
}

// latency compares each callback's p99 with the budget. A callback over
// budget is measured again on a fresh round of streams (2×Streams of the
// workload) and fails only if it is over budget in both: one descheduled
// call on a busy machine is the p99 of a hundred calls, and a slow
// callback is slow every time.
func (r *run) latency(h *harness) (Verdict, string) {
	sum := r.lat.summary()
	over := map[string]Latency{}
	for _, l := range sum {
		if l.P99 > r.opts.LatencyBudget {
			over[l.Callback] = l
		}
	}
	if len(over) == 0 {
		worst := Latency{}
		for _, l := range sum {
			if l.P99 >= worst.P99 {
				worst = l
			}
		}
		return Pass, fmt.Sprintf("every callback's p99 is within %v (slowest: %s p99 %v)", r.opts.LatencyBudget, worst.Callback, round(worst.P99))
	}
	again := &latencies{}
	saved := h.lat
	h.lat = again
	err := r.runMany(h, 2*r.opts.Streams, r.workload())
	h.lat = saved
	if err != nil {
		return r.verdictOf(h, fmt.Errorf("re-measuring latency: %w", err), "")
	}
	var fails, noise []string
	for _, l2 := range again.summary() {
		l, ok := over[l2.Callback]
		if !ok {
			continue
		}
		if l2.P99 > r.opts.LatencyBudget {
			fails = append(fails, fmt.Sprintf("%s: p99 %v > budget %v (p50 %v, max %v, %d calls); measured again: p99 %v (p50 %v, %d calls)",
				l.Callback, round(l.P99), r.opts.LatencyBudget, round(l.P50), round(l.Max), l.Calls, round(l2.P99), round(l2.P50), l2.Calls))
		} else {
			noise = append(noise, fmt.Sprintf("%s (p99 %v, then %v)", l.Callback, round(l.P99), round(l2.P99)))
		}
	}
	if len(fails) > 0 {
		return Fail, strings.Join(fails, "\n") + "\nEvery request waits for these callbacks: move slow work out of the request path (precompute in proxy_on_configure, cache, or use a callout)."
	}
	return Pass, fmt.Sprintf("every callback's p99 is within %v; over budget once but not when measured again (a busy machine): %s", r.opts.LatencyBudget, strings.Join(noise, ", "))
}

// leak runs warm-up streams, then LeakBatches batches, sampling the
// instance's memory pages after each. Wasm memory never shrinks, so a
// plugin that keeps something per stream grows batch after batch, while
// a healthy one (even with a garbage-collected heap) levels off.
func (r *run) leak(h *harness) (Verdict, string) {
	specs := r.workload()
	n := r.opts.Streams
	if err := r.runMany(h, n, specs); err != nil {
		return r.verdictOf(h, err, "")
	}
	pages := func() (uint32, bool) {
		ps := h.plugin.MemoryPages()
		if len(ps) != 1 {
			return 0, false
		}
		return ps[0], true
	}
	start, ok := pages()
	if !ok {
		return Fail, "no healthy instance to measure after the warm-up streams"
	}
	samples := []uint32{start}
	grew := 0
	for b := range LeakBatches {
		if err := r.runMany(h, n, specs); err != nil {
			return r.verdictOf(h, fmt.Errorf("batch %d: %w", b+1, err), "")
		}
		p, ok := pages()
		if !ok {
			return Fail, fmt.Sprintf("no healthy instance to measure after batch %d", b+1)
		}
		if p > samples[len(samples)-1] {
			grew++
		}
		samples = append(samples, p)
	}
	end := samples[len(samples)-1]
	var trail []string
	for _, s := range samples {
		trail = append(trail, strconv.Itoa(int(s)))
	}
	total := LeakBatches * n
	if grew >= LeakGrowthBatches {
		per := float64(end-start) * abi.WasmPageSize / float64(total)
		return Fail, fmt.Sprintf("instance memory grew in %d of %d batches of %d streams: %d → %d pages (+%d KiB, about %.0f bytes per stream); pages after each batch: %s.\nSomething allocated per stream is never freed: release per-stream state in proxy_on_delete (or on_done) and do not keep buffers in globals.",
			grew, LeakBatches, n, start, end, (end-start)*abi.WasmPageSize/1024, per, strings.Join(trail, " → "))
	}
	return Pass, fmt.Sprintf("%d streams after %d warm-up: memory %d → %d pages (grew in %d of %d batches; pages: %s)", total, n, start, end, grew, LeakBatches, strings.Join(trail, " → "))
}

const tokenChars = "abcdefghijklmnopqrstuvwxyz0123456789-"

func randToken(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenChars[rng.IntN(len(tokenChars))]
	}
	return string(b)
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

func randPrintable(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x20 + rng.IntN(0x7f-0x20))
	}
	return string(b)
}

func randChunks(rng *rand.Rand, body []byte) [][]byte {
	var out [][]byte
	for len(body) > 0 {
		n := min(len(body), 1+rng.IntN(64))
		out = append(out, body[:n])
		body = body[n:]
	}
	if len(out) == 0 {
		out = [][]byte{{}}
	}
	return out
}

var methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

var statuses = []string{"200", "201", "204", "301", "304", "400", "401", "403", "404", "429", "500", "502", "503"}

// randomStream builds a random stream: method, path, 0-20 headers with
// random names and printable values, random bodies in random chunks,
// sometimes trailers.
func randomStream(rng *rand.Rand) *streamSpec {
	dir := func(first [][2]string) direction {
		d := direction{headers: first}
		for range rng.IntN(21) {
			d.headers = append(d.headers, [2]string{"x-" + randToken(rng, 1+rng.IntN(20)), randPrintable(rng, rng.IntN(200))})
		}
		if rng.IntN(3) > 0 {
			d.chunks = randChunks(rng, randBytes(rng, rng.IntN(4096)))
		}
		if rng.IntN(4) == 0 {
			d.trailers = [][2]string{{"x-" + randToken(rng, 8), randPrintable(rng, 20)}}
		}
		return d
	}
	return &streamSpec{
		req:  dir([][2]string{{":method", methods[rng.IntN(len(methods))]}, {":path", "/" + randToken(rng, rng.IntN(40)) + "?" + randToken(rng, rng.IntN(20))}}),
		resp: dir([][2]string{{":status", statuses[rng.IntN(len(statuses))]}}),
	}
}

func oversizedStream() *streamSpec {
	var hs [][2]string
	for i := range 100 {
		hs = append(hs, [2]string{fmt.Sprintf("x-big-%03d", i), strings.Repeat("v", 8<<10)})
	}
	hs = append(hs, [2]string{"x-huge", strings.Repeat("h", 64<<10)})
	body := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	var chunks [][]byte
	for b := body; len(b) > 0; b = b[64<<10:] {
		chunks = append(chunks, b[:64<<10])
	}
	return &streamSpec{
		req:  direction{headers: append([][2]string{{":method", "POST"}, {":path", "/" + strings.Repeat("p", 8<<10)}}, hs...), chunks: chunks},
		resp: direction{headers: append([][2]string{{":status", "200"}}, hs...), chunks: chunks},
	}
}

func emptyStreams() []*streamSpec {
	return []*streamSpec{
		{}, // headers only, both directions
		{req: direction{chunks: [][]byte{{}}}, resp: direction{chunks: [][]byte{{}}}},
		{req: direction{headers: [][2]string{{"x-empty", ""}, {"cookie", ""}, {"authorization", ""}}}, resp: direction{headers: [][2]string{{"content-length", "0"}}}},
		{req: direction{chunks: [][]byte{{}, {}}, trailers: [][2]string{{"x-t", ""}}}, resp: direction{headers: [][2]string{{":status", "204"}}}},
	}
}

func chunkedStream(n int) *streamSpec {
	chunks := make([][]byte, n)
	for i := range chunks {
		chunks[i] = []byte{"abcdefghijklmnopqrstuvwxyz"[i%26]}
	}
	return &streamSpec{
		req:  direction{headers: [][2]string{{":method", "POST"}}, chunks: chunks},
		resp: direction{chunks: chunks},
	}
}

func nonUTF8Stream(rng *rand.Rand) *streamSpec {
	bad := "\xff\xfe\x80caf\xe9 \xc3\x28 \xed\xa0\x80"
	body := append([]byte("\x00\x01\xff{\"k\":\"\xc3\x28\"}\x00"), randBytes(rng, 512)...)
	hs := [][2]string{{"x-latin1", bad}, {"user-agent", "agent/\xfe\xff"}, {"cookie", "a=\x80\x81"}, {"x-api-key", bad}}
	return &streamSpec{
		req:  direction{headers: append([][2]string{{":method", "POST"}, {":path", "/caf\xe9?q=\xff"}}, hs...), chunks: [][]byte{body[:7], body[7:]}},
		resp: direction{headers: append([][2]string{{":status", "200"}}, hs...), chunks: [][]byte{body}},
	}
}
