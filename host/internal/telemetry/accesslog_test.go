package telemetry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAccessLogEncode(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		redact []string
		entry  Entry
		want   map[string]any
	}{
		{
			name:   "query credentials redacted, others kept",
			fields: []string{"query"},
			entry:  Entry{Query: "apikey=s1&page=2&API_KEY=s2&access_token=s3&q=a%20b"},
			want:   map[string]any{"query": "apikey=REDACTED&page=2&API_KEY=REDACTED&access_token=REDACTED&q=a%20b"},
		},
		{
			name:   "escaped parameter name still redacted",
			fields: []string{"query"},
			entry:  Entry{Query: "api%5Fkey=s1&tok=x"},
			want:   map[string]any{"query": "api%5Fkey=REDACTED&tok=x"},
		},
		{
			name:   "configured parameter redacted",
			fields: []string{"query"},
			redact: []string{"tok"},
			entry:  Entry{Query: "tok=x&y=1"},
			want:   map[string]any{"query": "tok=REDACTED&y=1"},
		},
		{
			name:   "credential headers redacted, others logged, missing null",
			fields: []string{"request_header:authorization", "request_header:Cookie", "request_header:X-Tenant", "request_header:X-None"},
			entry:  Entry{Header: http.Header{"Authorization": {"Bearer s"}, "Cookie": {"sid=1"}, "X-Tenant": {"t1"}}},
			want: map[string]any{"request_header:authorization": "REDACTED", "request_header:Cookie": "REDACTED",
				"request_header:X-Tenant": "t1", "request_header:X-None": nil},
		},
		{
			name:   "strings escaped, numbers and latencies",
			fields: []string{"path", "status", "latency_ms", "bytes_out", "user_agent"},
			entry: Entry{Path: "/a\"b\\c\n\x01\xff", Status: 201, Total: 1500 * time.Microsecond, BytesOut: 42,
				Header: http.Header{"User-Agent": {"ua/1"}}},
			want: map[string]any{"path": "/a\"b\\c\n\x01\ufffd", "status": float64(201), "latency_ms": 1.5,
				"bytes_out": float64(42), "user_agent": "ua/1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewAccessLog(AccessLogOptions{Fields: tc.fields, RedactQuery: tc.redact}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var b bytes.Buffer
			l.encode(&b, &tc.entry)
			var got map[string]any
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatalf("invalid JSON %q: %v", b.String(), err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d fields %v, want %v", len(got), got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

func TestAccessLogUnknownField(t *testing.T) {
	if _, err := NewAccessLog(AccessLogOptions{Fields: []string{"password"}}, nil); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("err = %v, want unknown field", err)
	}
}

// TestAccessLogFileAndShipping writes to a file and ships batches to an
// HTTP endpoint; Close delivers what is queued.
func TestAccessLogFileAndShipping(t *testing.T) {
	var mu sync.Mutex
	var batches [][]map[string]any
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &batch); err != nil || r.Header.Get("X-Key") != "k" {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		batches = append(batches, batch)
		mu.Unlock()
	}))
	defer ep.Close()
	path := filepath.Join(t.TempDir(), "a.log")
	reg := NewRegistry()
	l, err := NewAccessLog(AccessLogOptions{Path: path, Fields: []string{"request_id"}, HTTPEndpoint: ep.URL,
		BatchSize: 3, FlushInterval: time.Hour, Headers: map[string]string{"X-Key": "k"}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		l.Log(&Entry{RequestID: string(rune('a' + i))})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 7 || lines[0] != `{"request_id":"a"}` || lines[6] != `{"request_id":"g"}` {
		t.Fatalf("file lines %q", lines)
	}
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for _, bt := range batches {
		if len(bt) > 3 {
			t.Errorf("batch of %d, cap 3", len(bt))
		}
		n += len(bt)
	}
	if n != 7 || len(batches) != 3 {
		t.Fatalf("shipped %d entries in %d batches, want 7 in 3", n, len(batches))
	}
	if l.ShipFailed.Get() != 0 || l.Dropped.Get() != 0 {
		t.Fatalf("failures %d drops %d", l.ShipFailed.Get(), l.Dropped.Get())
	}
}

// blockingWriter blocks every write until released: the log's queue
// fills, and Log must drop rather than wait.
type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }
func (w *blockingWriter) Close() error                { return nil }

func TestAccessLogNeverBlocks(t *testing.T) {
	bw := &blockingWriter{release: make(chan struct{})}
	l, err := NewAccessLog(AccessLogOptions{Fields: []string{"status"}, QueueSize: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Swap in the blocking sink before anything is logged.
	l.out = bw
	l.ch = make(chan *bytes.Buffer, 4)
	l.wg.Add(1)
	go l.writeLoop()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			l.Log(&Entry{Status: 200})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked on a stuck sink")
	}
	// At most the queue (4) plus the entry being written (1) got through.
	if d := l.Dropped.Get(); d < 100-5 {
		t.Fatalf("dropped %d of 100 with a queue of 4", d)
	}
	close(bw.release)
	l.Close()
}
