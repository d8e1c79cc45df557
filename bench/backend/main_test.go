package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{name: "default 1KiB", size: 1024},
		{name: "empty", size: 0},
		{name: "not a multiple of the pattern", size: 1000},
		{name: "negative", size: -1, wantErr: true},
		{name: "too large", size: 64<<20 + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHandler(tt.size)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("newHandler(%d): want error, got nil", tt.size)
				}
				return
			}
			if err != nil {
				t.Fatalf("newHandler(%d): %v", tt.size, err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/any/path")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if len(got) != tt.size {
				t.Errorf("body length = %d, want %d", len(got), tt.size)
			}
			if resp.ContentLength != int64(tt.size) {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, tt.size)
			}
			want := []byte(strings.Repeat(pattern, tt.size/len(pattern)+1)[:tt.size])
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from the repeated pattern")
			}
		})
	}
}
