package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr bool
	}{
		{name: "ok", raw: "http://127.0.0.1:9090"},
		{name: "empty", raw: "", wantErr: true},
		{name: "no scheme", raw: "127.0.0.1:9090", wantErr: true},
		{name: "https", raw: "https://127.0.0.1:9090", wantErr: true},
		{name: "no host", raw: "http://", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parseUpstream(tt.raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseUpstream(%q) error = %v, wantErr %v", tt.raw, err, tt.wantErr)
			}
			if err == nil && u.String() != tt.raw {
				t.Errorf("parseUpstream(%q) = %q", tt.raw, u)
			}
		})
	}
}

func TestProxyForwards(t *testing.T) {
	var gotPath, gotXFF string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		gotXFF = r.Header.Get("X-Forwarded-For")
		w.Header().Set("X-Origin", "yes")
		_, _ = io.WriteString(w, "hello")
	}))
	defer origin.Close()
	u, err := url.Parse(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProxy(u, 4)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	defer front.Close()

	resp, err := http.Get(front.URL + "/a/b")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "hello")
	}
	if resp.Header.Get("X-Origin") != "yes" {
		t.Errorf("origin response header not passed through")
	}
	if gotPath != "/a/b" {
		t.Errorf("origin saw path %q, want /a/b", gotPath)
	}
	if gotXFF != "127.0.0.1" {
		t.Errorf("origin saw X-Forwarded-For %q, want 127.0.0.1", gotXFF)
	}
}

func TestNewProxyRejectsZeroPool(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	if _, err := newProxy(u, 0); err == nil {
		t.Fatal("newProxy with idle=0: want error")
	}
}
