package compress

import (
	"net/http"
	"testing"
)

// BenchmarkCompress measures one compressed 100 KiB JSON response per
// operation, written in 32 KiB pieces as a proxy copies an upstream body,
// onto a writer that discards the output. MB/s is input throughput;
// out-bytes/op is the compressed size.
func BenchmarkCompress(b *testing.B) {
	body := jsonBody(100<<10, 9)
	cases := []struct {
		name   string
		opts   Options
		accept string
		known  bool
	}{
		{name: "gzip-5", opts: Options{}, accept: "gzip", known: true},
		{name: "gzip-1", opts: Options{GzipLevel: 1}, accept: "gzip", known: true},
		{name: "zstd-1", opts: Options{}, accept: "zstd", known: true},
		{name: "zstd-2", opts: Options{ZstdLevel: 2}, accept: "zstd", known: true},
		{name: "gzip-5/unknown-length", opts: Options{}, accept: "gzip"},
		{name: "zstd-1/unknown-length", opts: Options{}, accept: "zstd"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c := mustNew(b, bc.opts)
			r := newRequest(http.MethodGet, bc.accept)
			d := &discardWriter{h: make(http.Header)}
			compressOnce(c, d, r, body, bc.known) // warm the pools
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				compressOnce(c, d, r, body, bc.known)
			}
			b.ReportMetric(float64(d.n), "out-bytes/op")
		})
	}
}

// BenchmarkCompressParallel is BenchmarkCompress/gzip-5 and zstd-1 from
// every P at once, so the pools hand encoders between goroutines.
func BenchmarkCompressParallel(b *testing.B) {
	body := jsonBody(100<<10, 9)
	for _, enc := range []string{"gzip", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			c := mustNew(b, Options{})
			r := newRequest(http.MethodGet, enc)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				d := &discardWriter{h: make(http.Header)}
				for pb.Next() {
					compressOnce(c, d, r, body, true)
				}
			})
		})
	}
}

// BenchmarkWrapNotApplicable measures Wrap plus finish for requests that
// get no compression: the cost every such request pays.
func BenchmarkWrapNotApplicable(b *testing.B) {
	c := mustNew(b, Options{})
	cases := []struct {
		name   string
		method string
		accept string
	}{
		{name: "no-accept-encoding", method: http.MethodGet, accept: "-"},
		{name: "br-only", method: http.MethodGet, accept: "br"},
		{name: "browser-without-offered", method: http.MethodGet, accept: "gzip;q=0, deflate, br;q=1.0, identity;q=0.5, *;q=0"},
		{name: "head", method: http.MethodHead, accept: "gzip"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			r := newRequest(bc.method, bc.accept)
			d := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				w, finish := c.Wrap(d, r)
				if w != http.ResponseWriter(d) {
					b.Fatal("wrapped")
				}
				finish()
			}
		})
	}
}

// BenchmarkPassThrough measures a wrapped response that the rules then
// pass through (an image), to show the cost of the wrapper itself.
func BenchmarkPassThrough(b *testing.B) {
	c := mustNew(b, Options{})
	body := randomBody(100<<10, 11)
	r := newRequest(http.MethodGet, "gzip, zstd")
	d := &discardWriter{h: make(http.Header)}
	pngType := []string{"image/png"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		clear(d.h)
		d.h["Content-Type"] = pngType
		d.h["Content-Length"] = benchCTLen
		w, finish := c.Wrap(d, r)
		_, _ = w.Write(body)
		finish()
	}
}
