package compress

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Defaults applied by [New] to zero-valued [Options] fields.
const (
	DefaultMinLength = 1024
	DefaultGzipLevel = 5
	DefaultZstdLevel = 1
)

// MaxMinLength bounds [Options.MinLength]: a response of unknown length is
// held in memory up to MinLength bytes while the writer decides, so a huge
// value would let every such response pin that much memory.
const MaxMinLength = 1 << 20

// zstdWindowSize is the zstd window used for responses. RFC 9659 §3 asks
// HTTP encoders to stay at or below 8 MiB; a much smaller window keeps the
// memory of every pooled encoder (and of the client's decoder) small and
// costs next to nothing in ratio for typical API and web bodies. Caddy makes
// the same choice.
const zstdWindowSize = 128 << 10

// DefaultContentTypes returns the media-type list used when
// [Options.ContentTypes] is empty: text and the common structured-text,
// script, SVG, wasm and uncompressed font types. Already-compressed formats
// (images other than SVG/ICO/BMP, woff/woff2, archives, video) are left out.
func DefaultContentTypes() []string { return slices.Clone(defaultContentTypes) }

var defaultContentTypes = []string{
	"text/*",
	"application/json",
	"application/*+json",
	"application/x-ndjson",
	"application/javascript",
	"application/x-javascript",
	"application/ecmascript",
	"application/xml",
	"application/*+xml",
	"application/yaml",
	"application/x-yaml",
	"application/toml",
	"application/graphql",
	"application/x-www-form-urlencoded",
	"application/wasm",
	"image/svg+xml",
	"image/x-icon",
	"image/vnd.microsoft.icon",
	"image/bmp",
	"font/ttf",
	"font/otf",
	"application/x-font-ttf",
	"application/x-font-otf",
	"application/vnd.ms-fontobject",
}

// Options configures a [Compressor]. The zero value is valid and means
// "all defaults". Field names follow config.Compression one to one.
type Options struct {
	// Algorithms lists the codings the server offers, in order of
	// preference; a subset of "zstd" and "gzip" (case-insensitive, no
	// duplicates). Default: zstd, then gzip.
	Algorithms []string
	// MinLength is the smallest body worth compressing. A response with a
	// known Content-Length below it passes through; one of unknown length
	// is buffered up to MinLength bytes before the writer decides. 0 means
	// the default (1024); a negative value disables the minimum. At most
	// MaxMinLength.
	MinLength int
	// GzipLevel is the gzip level, 1 (fastest) to 9 (best). 0 means the
	// default, 5.
	GzipLevel int
	// ZstdLevel is the zstd level: 1 = SpeedFastest, 2 = SpeedDefault,
	// 3 = SpeedBetterCompression, 4 = SpeedBestCompression. 0 means the
	// default, 1.
	ZstdLevel int
	// ContentTypes lists the media types to compress, without parameters:
	// "type/subtype", a family "type/*", a structured-syntax suffix
	// "type/*+suffix", or "*/*" for everything. Default:
	// DefaultContentTypes().
	ContentTypes []string
}

// ErrInvalidOptions is wrapped by every error [New] returns.
var ErrInvalidOptions = errors.New("compress: invalid options")

// encoding is a content coding the Compressor can produce.
type encoding uint8

const (
	encNone encoding = iota
	encZstd
	encGzip
	numEncodings
)

// Shared single-element header values. They are installed into response
// header maps without copying; header maps replace value slices on Set and
// append copies on Add, so they are never written through.
var (
	encodingHeader = [numEncodings][]string{
		encZstd: {"zstd"},
		encGzip: {"gzip"},
	}
	varyAcceptEncoding = []string{"Accept-Encoding"}
)

func (e encoding) String() string {
	switch e {
	case encZstd:
		return "zstd"
	case encGzip:
		return "gzip"
	default:
		return "identity"
	}
}

// Compressor compresses HTTP responses. It is safe for concurrent use; build
// one per configuration with [New] and share it.
type Compressor struct {
	algos     []encoding // server preference order, non-empty
	offered   [numEncodings]bool
	minLength int // 0 = no minimum
	gzipLevel int
	zstdLevel zstd.EncoderLevel
	types     []mediaPattern

	gzipPool   sync.Pool // *gzip.Writer
	zstdPool   sync.Pool // *zstd.Encoder
	writerPool sync.Pool // *responseWriter
}

// New validates o, applies defaults and returns a ready Compressor. Every
// error wraps [ErrInvalidOptions] and names the offending field.
func New(o Options) (*Compressor, error) {
	c := &Compressor{}

	algos := o.Algorithms
	if len(algos) == 0 {
		algos = []string{"zstd", "gzip"}
	}
	for _, a := range algos {
		var e encoding
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "zstd":
			e = encZstd
		case "gzip":
			e = encGzip
		default:
			return nil, fmt.Errorf("%w: algorithms: unsupported algorithm %q (want \"zstd\" or \"gzip\")", ErrInvalidOptions, a)
		}
		if c.offered[e] {
			return nil, fmt.Errorf("%w: algorithms: %q listed twice", ErrInvalidOptions, a)
		}
		c.offered[e] = true
		c.algos = append(c.algos, e)
	}

	switch {
	case o.MinLength == 0:
		c.minLength = DefaultMinLength
	case o.MinLength < 0:
		c.minLength = 0
	case o.MinLength > MaxMinLength:
		return nil, fmt.Errorf("%w: min_length %d exceeds the maximum %d", ErrInvalidOptions, o.MinLength, MaxMinLength)
	default:
		c.minLength = o.MinLength
	}

	c.gzipLevel = o.GzipLevel
	if c.gzipLevel == 0 {
		c.gzipLevel = DefaultGzipLevel
	}
	if c.gzipLevel < 1 || c.gzipLevel > 9 {
		return nil, fmt.Errorf("%w: gzip_level %d out of range 1..9", ErrInvalidOptions, o.GzipLevel)
	}

	zl := o.ZstdLevel
	if zl == 0 {
		zl = DefaultZstdLevel
	}
	if zl < 1 || zl > 4 {
		return nil, fmt.Errorf("%w: zstd_level %d out of range 1..4", ErrInvalidOptions, o.ZstdLevel)
	}
	c.zstdLevel = zstd.EncoderLevel(zl) // 1..4 are SpeedFastest..SpeedBestCompression

	types := o.ContentTypes
	if len(types) == 0 {
		types = defaultContentTypes
	}
	for _, t := range types {
		p, err := parseMediaPattern(t)
		if err != nil {
			return nil, fmt.Errorf("%w: content_types: %v", ErrInvalidOptions, err)
		}
		c.types = append(c.types, p)
	}

	// Build one encoder of each kind now, so a bad option combination fails
	// here rather than on the request path, and seed the pools with them.
	if c.offered[encGzip] {
		gz, err := c.newGzip()
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrInvalidOptions, err)
		}
		c.gzipPool.Put(gz)
	}
	if c.offered[encZstd] {
		zw, err := c.newZstd()
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrInvalidOptions, err)
		}
		c.zstdPool.Put(zw)
	}
	c.writerPool.New = func() any {
		w := &responseWriter{c: c}
		w.finishFn = w.finish // bound once; reused for the wrapper's lifetime
		return w
	}
	return c, nil
}

func (c *Compressor) newGzip() (*gzip.Writer, error) {
	return gzip.NewWriterLevel(nil, c.gzipLevel)
}

func (c *Compressor) newZstd() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(c.zstdLevel),
		zstd.WithEncoderConcurrency(1), // synchronous: no goroutines per response
		zstd.WithWindowSize(zstdWindowSize),
		zstd.WithZeroFrames(true), // an empty body is still a valid zstd stream
		// The frame checksum is optional (RFC 8878 §3.1.1); the transport
		// already protects the bytes, and writing it costs an allocation
		// per response in this encoder.
		zstd.WithEncoderCRC(false),
	)
}

func (c *Compressor) getGzip() *gzip.Writer {
	if v, ok := c.gzipPool.Get().(*gzip.Writer); ok {
		return v
	}
	gz, err := c.newGzip()
	if err != nil { // unreachable: the level was validated in New
		return nil
	}
	return gz
}

func (c *Compressor) getZstd() *zstd.Encoder {
	if v, ok := c.zstdPool.Get().(*zstd.Encoder); ok {
		return v
	}
	zw, err := c.newZstd()
	if err != nil { // unreachable: the options were validated in New
		return nil
	}
	return zw
}

// noop is the finish function of an unwrapped response.
var noop = func() {}

// Wrap prepares w for compressing the response to r. When r accepts none of
// the configured codings (or is a HEAD, CONNECT or upgrade request, says
// "Cache-Control: no-transform", or w is already a compressing writer) it
// returns w itself and a no-op finish, without allocating. Otherwise it returns a writer that decides at
// WriteHeader or the first Write whether to compress, and a finish function
// that must be called exactly once after the handler has returned: it
// flushes and closes the encoder and returns the writer to its pool. Neither
// the returned writer nor finish may be used after finish.
func (c *Compressor) Wrap(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func()) {
	if r.Method == http.MethodHead || r.Method == http.MethodConnect {
		return w, noop
	}
	if _, ok := w.(*responseWriter); ok { // never compress twice
		return w, noop
	}
	ae, ok := r.Header["Accept-Encoding"]
	if !ok {
		return w, noop
	}
	if _, upgrade := r.Header["Upgrade"]; upgrade {
		return w, noop
	}
	if cc, ok := r.Header["Cache-Control"]; ok && hasToken(cc, "no-transform") {
		return w, noop // RFC 9111 §5.2.1.6: the client asks intermediaries not to transform
	}
	enc := c.negotiate(ae)
	if enc == encNone {
		return w, noop
	}
	rw := c.writerPool.Get().(*responseWriter)
	rw.rw = w
	rw.enc = enc
	rw.state = stateIdle
	return rw, rw.finishFn
}
