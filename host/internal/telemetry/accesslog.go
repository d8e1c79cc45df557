package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
)

// Entry is one request, as the access log sees it. The proxy fills one
// per request in pooled memory; Log copies what it needs.
type Entry struct {
	Time         time.Time
	RequestID    string
	TraceID      string
	ClientIP     string
	Method       string
	Host         string
	Path         string // raw path, without the query
	Query        string // raw query, without '?'
	Protocol     string
	Status       int
	Route        string
	Service      string
	UpstreamAddr string
	Total        time.Duration
	Proxy        time.Duration
	Upstream     time.Duration
	BytesIn      int64
	BytesOut     int64
	// Header is the request's header, for request_header:<name> fields.
	Header http.Header
}

// DefaultAccessLogFields are logged when no fields are configured.
var DefaultAccessLogFields = []string{"time", "request_id", "trace_id", "client_ip", "method", "host", "path", "query",
	"protocol", "status", "route", "service", "upstream_addr", "latency_ms", "proxy_latency_ms", "upstream_latency_ms",
	"bytes_in", "bytes_out", "user_agent"}

var knownFields = map[string]bool{"time": true, "request_id": true, "trace_id": true, "client_ip": true, "method": true,
	"host": true, "path": true, "query": true, "protocol": true, "status": true, "route": true, "service": true,
	"upstream_addr": true, "latency_ms": true, "proxy_latency_ms": true, "upstream_latency_ms": true,
	"bytes_in": true, "bytes_out": true, "user_agent": true, "referer": true}

// ValidateField reports whether f is an access log field: a known name
// or request_header:<Name>.
func ValidateField(f string) error {
	if knownFields[f] {
		return nil
	}
	if h, ok := strings.CutPrefix(f, "request_header:"); ok && h != "" {
		return nil
	}
	return fmt.Errorf("unknown field %q", f)
}

// credentialHeaders are never logged, whatever the fields say.
var credentialHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true,
	"Set-Cookie": true, "X-Api-Key": true, "Apikey": true, "Api-Key": true, "X-Auth-Token": true}

// credentialParams are query parameters whose values are redacted
// (compared case-insensitively).
var credentialParams = map[string]bool{"apikey": true, "api_key": true, "api-key": true, "key": true, "token": true,
	"access_token": true, "id_token": true, "refresh_token": true, "password": true, "passwd": true, "secret": true,
	"client_secret": true, "signature": true, "sig": true, "jwt": true, "auth": true, "authorization": true,
	"x-api-key": true}

// Redacted replaces credential values in logs.
const Redacted = "REDACTED"

// AccessLogOptions configure the access log (config weir.access_log).
type AccessLogOptions struct {
	// Path is "stdout", "stderr" or a file (appended); "" writes no file
	// (shipping only).
	Path string
	// Fields are logged in this order; nil means DefaultAccessLogFields.
	Fields []string
	// RedactQuery names extra query parameters to redact (e.g. a
	// key-auth plugin's key_names).
	RedactQuery []string
	// HTTPEndpoint receives batches (a JSON array of entries per POST),
	// as Kong's http-log plugin sends them; "" disables shipping.
	HTTPEndpoint string
	// BatchSize and FlushInterval bound a batch: 100 entries, 1s.
	BatchSize     int
	FlushInterval time.Duration
	// QueueSize bounds the entries waiting for the file and for
	// shipping (each): beyond it they are dropped, never waited for.
	// Default 8192.
	QueueSize int
	// Headers are sent with every shipped batch.
	Headers map[string]string
}

// AccessLog writes one JSON line per request, off the data path: Log
// encodes into a pooled buffer and hands it to a writer goroutine
// through a bounded queue, dropping (and counting) when it is full.
type AccessLog struct {
	fields []string
	redact map[string]bool
	out    io.WriteCloser
	ch     chan *bytes.Buffer
	ship   chan []byte
	opts   AccessLogOptions
	wg     sync.WaitGroup
	client *http.Client
	stop   chan struct{} // closed by Close; the queues never are (Log may race Close)

	// Dropped counts entries lost to full queues; ShipFailed counts
	// batches the endpoint refused or that could not be sent.
	Dropped, ShipDropped, ShipFailed *metrics.Counter

	closeOnce sync.Once
}

// flushEvery bounds how long a logged line waits before it is written.
// With the default queue (8192) it sustains 800k lines/s before drops.
const flushEvery = 10 * time.Millisecond

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// NewAccessLog opens the access log. reg (may be nil) receives its drop
// counters.
func NewAccessLog(o AccessLogOptions, reg *Registry) (*AccessLog, error) {
	if o.Fields == nil {
		o.Fields = DefaultAccessLogFields
	}
	for _, f := range o.Fields {
		if err := ValidateField(f); err != nil {
			return nil, err
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if reg == nil {
		reg = NewRegistry()
	}
	l := &AccessLog{fields: o.Fields, opts: o, redact: map[string]bool{}, stop: make(chan struct{}),
		Dropped: reg.Counter("weir_access_log_dropped_total", "Access log entries dropped because a queue was full.", "sink", "file"),
		ShipDropped: reg.Counter("weir_access_log_dropped_total", "Access log entries dropped because a queue was full.",
			"sink", "http"),
		ShipFailed: reg.Counter("weir_access_log_ship_failures_total", "Access log batches the HTTP endpoint did not accept."),
	}
	for k := range credentialParams {
		l.redact[k] = true
	}
	for _, k := range o.RedactQuery {
		l.redact[strings.ToLower(k)] = true
	}
	switch o.Path {
	case "":
	case "stdout":
		l.out = nopCloser{os.Stdout}
	case "stderr":
		l.out = nopCloser{os.Stderr}
	default:
		f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		l.out = f
	}
	if l.out != nil {
		l.ch = make(chan *bytes.Buffer, o.QueueSize)
		l.wg.Add(1)
		go l.writeLoop()
	}
	if o.HTTPEndpoint != "" {
		l.client = &http.Client{Timeout: 10 * time.Second}
		l.ship = make(chan []byte, o.QueueSize)
		l.wg.Add(1)
		go l.shipLoop()
	}
	return l, nil
}

// Close flushes what is queued and stops the log (file closed, last
// batch shipped).
func (l *AccessLog) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
	if l.out != nil {
		return l.out.Close()
	}
	return nil
}

// Log encodes e and queues it; it never blocks.
func (l *AccessLog) Log(e *Entry) {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	l.encode(b, e)
	if l.ship != nil {
		select {
		case l.ship <- bytes.Clone(b.Bytes()):
		default:
			l.ShipDropped.Inc()
		}
	}
	if l.ch == nil {
		bufPool.Put(b)
		return
	}
	b.WriteByte('\n')
	select {
	case l.ch <- b:
	default:
		l.Dropped.Inc()
		bufPool.Put(b)
	}
}

func (l *AccessLog) writeLoop() {
	defer l.wg.Done()
	w := bufio.NewWriterSize(l.out, 64<<10)
	write := func(b *bytes.Buffer) {
		w.Write(b.Bytes())
		if b.Cap() <= 64<<10 {
			bufPool.Put(b)
		}
	}
	// The writer wakes every flushEvery and drains the queue: a request
	// never wakes it (a channel send to a parked receiver costs a
	// goroutine handoff), and lines reach the sink in few write(2)s,
	// as nginx's buffer= and flush= do.
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for drained := false; !drained; {
				select {
				case b := <-l.ch:
					write(b)
				default:
					drained = true
				}
			}
			if w.Buffered() > 0 {
				w.Flush()
			}
		case <-l.stop:
			for {
				select {
				case b := <-l.ch:
					write(b)
				default:
					w.Flush()
					return
				}
			}
		}
	}
}

func (l *AccessLog) shipLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	var batch [][]byte
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var body bytes.Buffer
		body.WriteByte('[')
		for i, e := range batch {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(e)
		}
		body.WriteByte(']')
		batch = batch[:0]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.opts.HTTPEndpoint, &body)
		if err != nil {
			l.ShipFailed.Inc()
			return
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range l.opts.Headers {
			req.Header.Set(k, v)
		}
		resp, err := l.client.Do(req)
		if err != nil {
			l.ShipFailed.Inc()
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			l.ShipFailed.Inc()
		}
	}
	for {
		select {
		case e := <-l.ship:
			batch = append(batch, e)
			if len(batch) >= l.opts.BatchSize {
				flush()
			}
		case <-t.C:
			flush()
		case <-l.stop:
			for {
				select {
				case e := <-l.ship:
					batch = append(batch, e)
					if len(batch) >= l.opts.BatchSize {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

func (l *AccessLog) encode(b *bytes.Buffer, e *Entry) {
	var num [32]byte
	b.WriteByte('{')
	for i, f := range l.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if h, ok := strings.CutPrefix(f, "request_header:"); ok {
			appendString(b, f)
			b.WriteByte(':')
			ck := http.CanonicalHeaderKey(h)
			v := e.Header[ck]
			switch {
			case len(v) == 0:
				b.WriteString("null")
			case credentialHeaders[ck]:
				appendString(b, Redacted)
			default:
				appendString(b, v[0])
			}
			continue
		}
		b.WriteByte('"')
		b.WriteString(f)
		b.WriteString(`":`)
		switch f {
		case "time":
			b.WriteByte('"')
			b.Write(e.Time.UTC().AppendFormat(num[:0], time.RFC3339Nano))
			b.WriteByte('"')
		case "request_id":
			appendString(b, e.RequestID)
		case "trace_id":
			appendString(b, e.TraceID)
		case "client_ip":
			appendString(b, e.ClientIP)
		case "method":
			appendString(b, e.Method)
		case "host":
			appendString(b, e.Host)
		case "path":
			appendString(b, e.Path)
		case "query":
			l.appendQuery(b, e.Query)
		case "protocol":
			appendString(b, e.Protocol)
		case "status":
			b.Write(strconv.AppendInt(num[:0], int64(e.Status), 10))
		case "route":
			appendString(b, e.Route)
		case "service":
			appendString(b, e.Service)
		case "upstream_addr":
			appendString(b, e.UpstreamAddr)
		case "latency_ms":
			appendMillis(b, e.Total)
		case "proxy_latency_ms":
			appendMillis(b, e.Proxy)
		case "upstream_latency_ms":
			appendMillis(b, e.Upstream)
		case "bytes_in":
			b.Write(strconv.AppendInt(num[:0], e.BytesIn, 10))
		case "bytes_out":
			b.Write(strconv.AppendInt(num[:0], e.BytesOut, 10))
		case "user_agent":
			appendString(b, e.Header.Get("User-Agent"))
		case "referer":
			appendString(b, e.Header.Get("Referer"))
		default:
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
}

func appendMillis(b *bytes.Buffer, d time.Duration) {
	var num [32]byte
	b.Write(strconv.AppendFloat(num[:0], float64(d.Microseconds())/1000, 'f', -1, 64))
}

// appendQuery writes the raw query as a JSON string with the values of
// credential parameters replaced by REDACTED.
func (l *AccessLog) appendQuery(b *bytes.Buffer, q string) {
	b.WriteByte('"')
	first := true
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if !first {
			b.WriteByte('&')
		}
		first = false
		k, _, _ := strings.Cut(part, "=")
		if l.redact[lowerKey(k)] {
			appendEscaped(b, k)
			b.WriteString("=" + Redacted)
			continue
		}
		appendEscaped(b, part)
	}
	b.WriteByte('"')
}

// lowerKey lower-cases and unescapes a parameter name for comparison;
// it allocates only when the name has upper case or escapes.
func lowerKey(k string) string {
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c >= 'A' && c <= 'Z') || c == '%' || c == '+' {
			return strings.ToLower(unescapeKey(k))
		}
	}
	return k
}

// unescapeKey decodes %XX and '+' enough to compare parameter names
// (a client writing api%5Fkey still gets redacted).
func unescapeKey(k string) string {
	if !strings.ContainsAny(k, "%+") {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '+' {
			b.WriteByte(' ')
			continue
		}
		if c == '%' && i+2 < len(k) {
			if n, err := strconv.ParseUint(k[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string.
func appendString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	appendEscaped(b, s)
	b.WriteByte('"')
}

// appendEscaped writes s JSON-escaped, without quotes.
func appendEscaped(b *bytes.Buffer, s string) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
}
