package compress

import (
	"errors"
	"testing"
)

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
		check   func(t *testing.T, c *Compressor)
	}{
		{
			name: "zero value gets defaults",
			opts: Options{},
			check: func(t *testing.T, c *Compressor) {
				if len(c.algos) != 2 || c.algos[0] != encZstd || c.algos[1] != encGzip {
					t.Errorf("algos = %v, want [zstd gzip]", c.algos)
				}
				if c.minLength != DefaultMinLength || c.gzipLevel != DefaultGzipLevel || int(c.zstdLevel) != DefaultZstdLevel {
					t.Errorf("minLength, gzipLevel, zstdLevel = %d, %d, %d; want defaults", c.minLength, c.gzipLevel, c.zstdLevel)
				}
				if len(c.types) != len(DefaultContentTypes()) {
					t.Errorf("%d content types, want %d", len(c.types), len(DefaultContentTypes()))
				}
			},
		},
		{
			name: "explicit values kept",
			opts: Options{Algorithms: []string{" GZIP "}, MinLength: 10, GzipLevel: 9, ZstdLevel: 4, ContentTypes: []string{"text/html"}},
			check: func(t *testing.T, c *Compressor) {
				if len(c.algos) != 1 || c.algos[0] != encGzip || c.offered[encZstd] {
					t.Errorf("algos = %v, want [gzip]", c.algos)
				}
				if c.minLength != 10 || c.gzipLevel != 9 || c.zstdLevel != 4 || len(c.types) != 1 {
					t.Errorf("got %d, %d, %d, %d types", c.minLength, c.gzipLevel, c.zstdLevel, len(c.types))
				}
			},
		},
		{
			name: "negative min length disables the minimum",
			opts: Options{MinLength: -1},
			check: func(t *testing.T, c *Compressor) {
				if c.minLength != 0 {
					t.Errorf("minLength = %d, want 0", c.minLength)
				}
			},
		},
		{name: "unknown algorithm", opts: Options{Algorithms: []string{"br"}}, wantErr: true},
		{name: "duplicate algorithm", opts: Options{Algorithms: []string{"gzip", "Gzip"}}, wantErr: true},
		{name: "gzip level too high", opts: Options{GzipLevel: 10}, wantErr: true},
		{name: "gzip level negative", opts: Options{GzipLevel: -1}, wantErr: true},
		{name: "zstd level too high", opts: Options{ZstdLevel: 5}, wantErr: true},
		{name: "min length too large", opts: Options{MinLength: MaxMinLength + 1}, wantErr: true},
		{name: "content type without subtype", opts: Options{ContentTypes: []string{"text"}}, wantErr: true},
		{name: "content type with parameters", opts: Options{ContentTypes: []string{"text/html; charset=utf-8"}}, wantErr: true},
		{name: "wildcard type with concrete subtype", opts: Options{ContentTypes: []string{"*/json"}}, wantErr: true},
		{name: "empty type", opts: Options{ContentTypes: []string{"/json"}}, wantErr: true},
		{name: "empty suffix", opts: Options{ContentTypes: []string{"application/*+"}}, wantErr: true},
		{name: "empty content type", opts: Options{ContentTypes: []string{""}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%+v) succeeded, want an error", tt.opts)
				}
				if !errors.Is(err, ErrInvalidOptions) {
					t.Errorf("error %v does not wrap ErrInvalidOptions", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tt.opts, err)
			}
			tt.check(t, c)
		})
	}
}

func TestCompressibleType(t *testing.T) {
	defaults := mustNew(t, Options{})
	custom := mustNew(t, Options{ContentTypes: []string{"application/vnd.api+json", "image/*", "application/*+yaml"}})
	everything := mustNew(t, Options{ContentTypes: []string{"*/*"}})
	tests := []struct {
		name string
		c    *Compressor
		ct   string
		want bool
	}{
		{name: "text family", c: defaults, ct: "text/html", want: true},
		{name: "text with charset", c: defaults, ct: "text/plain; charset=utf-8", want: true},
		{name: "event stream", c: defaults, ct: "text/event-stream", want: true},
		{name: "json", c: defaults, ct: "application/json", want: true},
		{name: "json upper case with spaces", c: defaults, ct: " Application/JSON ;charset=UTF-8", want: true},
		{name: "problem+json suffix", c: defaults, ct: "application/problem+json", want: true},
		{name: "atom+xml suffix", c: defaults, ct: "application/atom+xml", want: true},
		{name: "svg", c: defaults, ct: "image/svg+xml", want: true},
		{name: "wasm", c: defaults, ct: "application/wasm", want: true},
		{name: "ttf", c: defaults, ct: "font/ttf", want: true},
		{name: "png", c: defaults, ct: "image/png", want: false},
		{name: "woff2", c: defaults, ct: "font/woff2", want: false},
		{name: "octet-stream", c: defaults, ct: "application/octet-stream", want: false},
		{name: "grpc", c: defaults, ct: "application/grpc", want: false},
		{name: "bare suffix is not a subtype", c: defaults, ct: "application/+json", want: false},
		{name: "missing", c: defaults, ct: "", want: false},
		{name: "malformed", c: defaults, ct: "text", want: false},
		{name: "trailing slash", c: defaults, ct: "text/", want: false},
		{name: "custom exact", c: custom, ct: "application/vnd.api+json", want: true},
		{name: "custom exact does not widen", c: custom, ct: "application/json", want: false},
		{name: "custom family", c: custom, ct: "image/png", want: true},
		{name: "custom suffix", c: custom, ct: "application/x+yaml", want: true},
		{name: "custom drops text", c: custom, ct: "text/html", want: false},
		{name: "everything", c: everything, ct: "video/mp4", want: true},
		{name: "everything still needs a type", c: everything, ct: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.compressibleType(tt.ct); got != tt.want {
				t.Errorf("compressibleType(%q) = %v, want %v", tt.ct, got, tt.want)
			}
		})
	}
}
