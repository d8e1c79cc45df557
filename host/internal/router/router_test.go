package router

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// noMatch is the wantRoute of cases where no route may match.
const noMatch = -1

func TestMatch(t *testing.T) {
	tests := []struct {
		name      string
		routes    []Route
		req       Request
		wantRoute int // index into routes, or noMatch
		wantStrip int
	}{
		// Priority 1: more kinds of match fields first.
		{
			name: "host+path beats longer path-only route",
			routes: []Route{
				{Name: "path-only", Paths: []string{"/api/v1/users"}},
				{Name: "host+path", Hosts: []string{"example.com"}, Paths: []string{"/"}},
			},
			req:       Request{Host: "example.com", Path: "/api/v1/users"},
			wantRoute: 1, wantStrip: 1,
		},
		{
			name: "methods count as a field",
			routes: []Route{
				{Name: "long", Paths: []string{"/aaaa/bbbb"}},
				{Name: "get", Paths: []string{"/"}, Methods: []string{"GET"}},
			},
			req:       Request{Path: "/aaaa/bbbb", Method: "GET"},
			wantRoute: 1, wantStrip: 1,
		},
		{
			name: "snis count as a field",
			routes: []Route{
				{Name: "paths", Paths: []string{"/x"}},
				{Name: "paths+snis", Paths: []string{"/"}, SNIs: []string{"a.example"}},
			},
			req:       Request{Path: "/x", SNI: "a.example"},
			wantRoute: 1, wantStrip: 1,
		},
		{
			name: "host-less route with more fields beats host route",
			routes: []Route{
				{Name: "host+path", Hosts: []string{"example.com"}, Paths: []string{"/"}},
				{Name: "path+method+header", Paths: []string{"/"}, Methods: []string{"GET"}, Headers: map[string][]string{"X-A": {"1"}}},
			},
			req:       Request{Host: "example.com", Path: "/", Method: "GET", Header: http.Header{"X-A": {"1"}}},
			wantRoute: 1, wantStrip: 1,
		},
		// Priority 2: plain hosts beat wildcard hosts.
		{
			name: "plain host beats wildcard host declared first",
			routes: []Route{
				{Name: "wild", Hosts: []string{"*.example.com"}, Paths: []string{"/"}},
				{Name: "plain", Hosts: []string{"a.example.com"}, Paths: []string{"/"}},
			},
			req:       Request{Host: "a.example.com", Path: "/x"},
			wantRoute: 1, wantStrip: 1,
		},
		{
			name: "plain host beats wildcard host with longer path",
			routes: []Route{
				{Name: "wild", Hosts: []string{"*.example.com"}, Paths: []string{"/x/y/z"}},
				{Name: "plain", Hosts: []string{"a.example.com"}, Paths: []string{"/"}},
			},
			req:       Request{Host: "a.example.com", Path: "/x/y/z"},
			wantRoute: 1, wantStrip: 1,
		},
		{
			name: "a route mixing plain and wildcard hosts is not plain",
			routes: []Route{
				{Name: "mixed", Hosts: []string{"a.example.com", "*.other.com"}, Paths: []string{"/x/y"}},
				{Name: "plain", Hosts: []string{"a.example.com"}, Paths: []string{"/"}},
			},
			req:       Request{Host: "a.example.com", Path: "/x/y"},
			wantRoute: 1, wantStrip: 1,
		},
		// Priority 3: more headers first.
		{
			name: "more header conditions first",
			routes: []Route{
				{Name: "one", Paths: []string{"/long/path"}, Headers: map[string][]string{"X-A": {"1"}}},
				{Name: "two", Paths: []string{"/"}, Headers: map[string][]string{"X-A": {"1"}, "X-B": {"2"}}},
			},
			req:       Request{Path: "/long/path", Header: http.Header{"X-A": {"1"}, "X-B": {"2"}}},
			wantRoute: 1, wantStrip: 1,
		},
		{
			name: "header count ranks above regex",
			routes: []Route{
				{Name: "regex", Paths: []string{"~/a"}, Headers: map[string][]string{"X-A": {"1"}}},
				{Name: "prefix", Paths: []string{"/"}, Headers: map[string][]string{"X-A": {"1"}, "X-B": {"2"}}},
			},
			req:       Request{Path: "/a", Header: http.Header{"X-A": {"1"}, "X-B": {"2"}}},
			wantRoute: 1, wantStrip: 1,
		},
		// Priority 4-5: regex before prefix, then regex_priority.
		{
			name: "regex beats longer prefix",
			routes: []Route{
				{Name: "prefix", Paths: []string{"/abc/def/ghi"}},
				{Name: "regex", Paths: []string{"~/abc"}},
			},
			req:       Request{Path: "/abc/def/ghi"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "higher regex_priority first",
			routes: []Route{
				{Name: "low", Paths: []string{`~/users/\d+`}, RegexPriority: 0},
				{Name: "high", Paths: []string{`~/users/.*`}, RegexPriority: 5},
			},
			req:       Request{Path: "/users/42"},
			wantRoute: 1, wantStrip: 9,
		},
		{
			name: "equal regex_priority: declaration order",
			routes: []Route{
				{Name: "first", Paths: []string{`~/users/\d+`}, RegexPriority: 3},
				{Name: "second", Paths: []string{`~/users/.*`}, RegexPriority: 3},
			},
			req:       Request{Path: "/users/42"},
			wantRoute: 0, wantStrip: 9,
		},
		{
			name: "negative regex_priority ranks below zero",
			routes: []Route{
				{Name: "neg", Paths: []string{`~/a`}, RegexPriority: -1},
				{Name: "zero", Paths: []string{`~/a`}},
			},
			req:       Request{Path: "/a"},
			wantRoute: 1, wantStrip: 2,
		},
		{
			name: "regex_priority is ignored for prefix paths",
			routes: []Route{
				{Name: "short", Paths: []string{"/a"}, RegexPriority: 100},
				{Name: "long", Paths: []string{"/a/b"}},
			},
			req:       Request{Path: "/a/b"},
			wantRoute: 1, wantStrip: 4,
		},
		// Priority 6: longest prefix.
		{
			name: "longest prefix wins",
			routes: []Route{
				{Name: "a", Paths: []string{"/a"}},
				{Name: "ab", Paths: []string{"/a/b"}},
				{Name: "root", Paths: []string{"/"}},
			},
			req:       Request{Path: "/a/b/c"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "route split by path length: long group beats other route",
			routes: []Route{
				{Name: "split", Paths: []string{"/a", "/a/b/c"}},
				{Name: "mid", Paths: []string{"/a/b"}},
			},
			req:       Request{Path: "/a/b/c/d"},
			wantRoute: 0, wantStrip: 6,
		},
		{
			name: "route split by path length: short group loses to other route",
			routes: []Route{
				{Name: "split", Paths: []string{"/a", "/a/b/c"}},
				{Name: "mid", Paths: []string{"/a/b"}},
			},
			req:       Request{Path: "/a/b/x"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "route with regex and prefix paths: prefix group still ranked by length",
			routes: []Route{
				{Name: "both", Paths: []string{"~/nomatch", "/a"}},
				{Name: "longer", Paths: []string{"/a/b"}},
			},
			req:       Request{Path: "/a/b"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "route without paths ranks below same-weight prefix",
			routes: []Route{
				{Name: "hosts only", Hosts: []string{"example.com"}},
				{Name: "paths only", Paths: []string{"/"}},
			},
			req:       Request{Host: "example.com", Path: "/"},
			wantRoute: 0, wantStrip: 0,
		},
		// Priority 7: Ingress Exact vs Prefix.
		{
			name: "Exact beats Prefix on equal length",
			routes: []Route{
				{Name: "prefix", Paths: []string{"/foo"}, PathKind: PathPrefix},
				{Name: "exact", Paths: []string{"/foo"}, PathKind: PathExact},
			},
			req:       Request{Path: "/foo"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "Prefix matches where Exact does not",
			routes: []Route{
				{Name: "prefix", Paths: []string{"/foo"}, PathKind: PathPrefix},
				{Name: "exact", Paths: []string{"/foo"}, PathKind: PathExact},
			},
			req:       Request{Path: "/foo/bar"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name: "Prefix beats Kong prefix on equal length",
			routes: []Route{
				{Name: "kong", Paths: []string{"/foo"}},
				{Name: "prefix", Paths: []string{"/foo"}, PathKind: PathPrefix},
			},
			req:       Request{Path: "/foo/x"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "longer Prefix as written beats Exact",
			routes: []Route{
				{Name: "exact", Paths: []string{"/foo"}, PathKind: PathExact},
				{Name: "prefix/", Paths: []string{"/foo/"}, PathKind: PathPrefix},
			},
			req:       Request{Path: "/foo"},
			wantRoute: 1, wantStrip: 4,
		},
		{
			name: "Ingress longest path: /aaa/bbb beats /aaa and /",
			routes: []Route{
				{Name: "root", Paths: []string{"/"}, PathKind: PathPrefix},
				{Name: "aaa", Paths: []string{"/aaa"}, PathKind: PathPrefix},
				{Name: "aaa/bbb", Paths: []string{"/aaa/bbb"}, PathKind: PathPrefix},
			},
			req:       Request{Path: "/aaa/bbb"},
			wantRoute: 2, wantStrip: 8,
		},
		{
			name: "Ingress Prefix / catches the rest",
			routes: []Route{
				{Name: "root", Paths: []string{"/"}, PathKind: PathPrefix},
				{Name: "aaa", Paths: []string{"/aaa"}, PathKind: PathPrefix},
			},
			req:       Request{Path: "/ccc"},
			wantRoute: 0, wantStrip: 0,
		},
		// Priority 8: declaration order.
		{
			name: "identical routes: first declared wins",
			routes: []Route{
				{Name: "first", Hosts: []string{"example.com"}, Paths: []string{"/"}},
				{Name: "second", Hosts: []string{"example.com"}, Paths: []string{"/"}},
			},
			req:       Request{Host: "example.com", Path: "/"},
			wantRoute: 0, wantStrip: 1,
		},
		// Path semantics.
		{
			name:      "Kong prefix is a string prefix",
			routes:    []Route{{Paths: []string{"/foo"}}},
			req:       Request{Path: "/foobar"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name:      "Kong prefix does not match a shorter path",
			routes:    []Route{{Paths: []string{"/foo"}}},
			req:       Request{Path: "/fo"},
			wantRoute: noMatch,
		},
		{
			name:      "Prefix is element-wise: /foo does not match /foobar",
			routes:    []Route{{Paths: []string{"/foo"}, PathKind: PathPrefix}},
			req:       Request{Path: "/foobar"},
			wantRoute: noMatch,
		},
		{
			name:      "Prefix /foo matches /foo/",
			routes:    []Route{{Paths: []string{"/foo"}, PathKind: PathPrefix}},
			req:       Request{Path: "/foo/"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name:      "Prefix /foo/ matches /foo (trailing slash ignored)",
			routes:    []Route{{Paths: []string{"/foo/"}, PathKind: PathPrefix}},
			req:       Request{Path: "/foo"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name:      "Prefix /aaa/bb does not match /aaa/bbb",
			routes:    []Route{{Paths: []string{"/aaa/bb"}, PathKind: PathPrefix}},
			req:       Request{Path: "/aaa/bbb"},
			wantRoute: noMatch,
		},
		{
			name:      "Prefix /aaa/bbb matches subpath, StripLen leaves the slash",
			routes:    []Route{{Paths: []string{"/aaa/bbb/"}, PathKind: PathPrefix}},
			req:       Request{Path: "/aaa/bbb/ccc"},
			wantRoute: 0, wantStrip: 8,
		},
		{
			name:      "overlapping Prefix rules of one length: the longer consumption wins",
			routes:    []Route{{Paths: []string{"/a//", "/a/b"}, PathKind: PathPrefix}},
			req:       Request{Path: "/a/b/c"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name:      "Exact /foo does not match /foo/",
			routes:    []Route{{Paths: []string{"/foo"}, PathKind: PathExact}},
			req:       Request{Path: "/foo/"},
			wantRoute: noMatch,
		},
		{
			name:      "Exact /foo/ does not match /foo",
			routes:    []Route{{Paths: []string{"/foo/"}, PathKind: PathExact}},
			req:       Request{Path: "/foo"},
			wantRoute: noMatch,
		},
		{
			name:      "Exact paths are case-sensitive",
			routes:    []Route{{Paths: []string{"/Foo"}, PathKind: PathExact}},
			req:       Request{Path: "/foo"},
			wantRoute: noMatch,
		},
		{
			name:      "Exact path starting with ~ is literal",
			routes:    []Route{{Paths: []string{"/~x"}, PathKind: PathExact}},
			req:       Request{Path: "/~x"},
			wantRoute: 0, wantStrip: 3,
		},
		{
			name:      "regex is anchored at the start",
			routes:    []Route{{Paths: []string{"~/b"}}},
			req:       Request{Path: "/a/b"},
			wantRoute: noMatch,
		},
		{
			name:      "regex alternation is anchored on every branch",
			routes:    []Route{{Paths: []string{"~/a|/b"}}},
			req:       Request{Path: "/x/b"},
			wantRoute: noMatch,
		},
		{
			name:      "regex StripLen is the match length",
			routes:    []Route{{Paths: []string{`~/api/v\d+`}}},
			req:       Request{Path: "/api/v12/users"},
			wantRoute: 0, wantStrip: 8,
		},
		{
			name:      "regex StripLen uses leftmost-first semantics",
			routes:    []Route{{Paths: []string{`~/(a|ab)`}}},
			req:       Request{Path: "/abc"},
			wantRoute: 0, wantStrip: 2,
		},
		{
			name:      "regex group StripLen from the first matching regex in declaration order",
			routes:    []Route{{Paths: []string{`~/x`, `~/a+`, `~/a`}}},
			req:       Request{Path: "/aaa"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name:      "regex with named group (?<name>)",
			routes:    []Route{{Paths: []string{`~/u/(?<id>\d+)$`}}},
			req:       Request{Path: "/u/7"},
			wantRoute: 0, wantStrip: 4,
		},
		{
			name:      "route without paths has StripLen 0",
			routes:    []Route{{Hosts: []string{"example.com"}}},
			req:       Request{Host: "example.com", Path: "/x/y"},
			wantRoute: 0, wantStrip: 0,
		},
		// Host semantics.
		{
			name:      "Kong wildcard matches any depth",
			routes:    []Route{{Hosts: []string{"*.example.com"}}},
			req:       Request{Host: "a.b.example.com", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "Kong wildcard does not match the bare domain",
			routes:    []Route{{Hosts: []string{"*.example.com"}}},
			req:       Request{Host: "example.com", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "one-label wildcard matches one label",
			routes:    []Route{{Hosts: []string{"*.example.com"}, WildcardOneLabel: true}},
			req:       Request{Host: "a.example.com", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "one-label wildcard does not match two labels",
			routes:    []Route{{Hosts: []string{"*.example.com"}, WildcardOneLabel: true}},
			req:       Request{Host: "a.b.example.com", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "one-label wildcard does not match the bare domain",
			routes:    []Route{{Hosts: []string{"*.example.com"}, WildcardOneLabel: true}},
			req:       Request{Host: "example.com", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name: "one-label and any-depth wildcards side by side",
			routes: []Route{
				{Name: "one", Hosts: []string{"*.example.com"}, WildcardOneLabel: true},
				{Name: "any", Hosts: []string{"*.example.com"}},
			},
			req:       Request{Host: "a.b.example.com", Path: "/"},
			wantRoute: 1,
		},
		{
			name:      "trailing wildcard matches any depth",
			routes:    []Route{{Hosts: []string{"example.*"}}},
			req:       Request{Host: "example.co.uk", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "trailing wildcard one label",
			routes:    []Route{{Hosts: []string{"example.*"}, WildcardOneLabel: true}},
			req:       Request{Host: "example.co.uk", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "trailing wildcard one label matches one label",
			routes:    []Route{{Hosts: []string{"example.*"}, WildcardOneLabel: true}},
			req:       Request{Host: "example.org:8080", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "trailing wildcard does not match other names",
			routes:    []Route{{Hosts: []string{"example.*"}}},
			req:       Request{Host: "myexample.com", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "host is case-insensitive",
			routes:    []Route{{Hosts: []string{"Example.COM"}}},
			req:       Request{Host: "eXample.com", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "wildcard host is case-insensitive",
			routes:    []Route{{Hosts: []string{"*.Example.com"}}},
			req:       Request{Host: "A.EXAMPLE.COM", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "host without port matches any port",
			routes:    []Route{{Hosts: []string{"example.com"}}},
			req:       Request{Host: "example.com:8080", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "host with port requires the port",
			routes:    []Route{{Hosts: []string{"example.com:8000"}}},
			req:       Request{Host: "example.com:8000", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "host with port: other port does not match",
			routes:    []Route{{Hosts: []string{"example.com:8000"}}},
			req:       Request{Host: "example.com:8001", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "host with port: no port does not match",
			routes:    []Route{{Hosts: []string{"example.com:8000"}}},
			req:       Request{Host: "example.com", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name: "same host with and without port in one route: any port",
			routes: []Route{
				{Hosts: []string{"example.com:8000", "example.com"}},
			},
			req:       Request{Host: "example.com:9", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "wildcard host with port",
			routes:    []Route{{Hosts: []string{"*.example.com:8443"}}},
			req:       Request{Host: "a.example.com:8443", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "wildcard host with port: wrong port",
			routes:    []Route{{Hosts: []string{"*.example.com:8443"}}},
			req:       Request{Host: "a.example.com:443", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "IPv6 host with port",
			routes:    []Route{{Hosts: []string{"[::1]:8000"}}},
			req:       Request{Host: "[::1]:8000", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "IPv6 host without port matches any port",
			routes:    []Route{{Hosts: []string{"[::1]"}}},
			req:       Request{Host: "[::1]:1234", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "malformed port matches no host",
			routes:    []Route{{Hosts: []string{"example.com"}}},
			req:       Request{Host: "example.com:http", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "host-less route matches any host",
			routes:    []Route{{Paths: []string{"/"}}},
			req:       Request{Host: "whatever.example:1", Path: "/"},
			wantRoute: 0, wantStrip: 1,
		},
		{
			name: "host route falls through to host-less route when its path does not match",
			routes: []Route{
				{Name: "host", Hosts: []string{"example.com"}, Paths: []string{"/api"}},
				{Name: "catch-all", Paths: []string{"/"}},
			},
			req:       Request{Host: "example.com", Path: "/web"},
			wantRoute: 1, wantStrip: 1,
		},
		// Methods.
		{
			name:      "method matches",
			routes:    []Route{{Methods: []string{"GET", "HEAD"}}},
			req:       Request{Method: "HEAD", Path: "/"},
			wantRoute: 0,
		},
		{
			name:      "method does not match",
			routes:    []Route{{Methods: []string{"GET"}}},
			req:       Request{Method: "POST", Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "method is case-sensitive",
			routes:    []Route{{Methods: []string{"GET"}}},
			req:       Request{Method: "get", Path: "/"},
			wantRoute: noMatch,
		},
		// Headers.
		{
			name:      "header value is case-insensitive",
			routes:    []Route{{Headers: map[string][]string{"x-version": {"Beta"}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Version": {"BETA"}}},
			wantRoute: 0,
		},
		{
			name:      "header any of several values",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {"a", "b"}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Version": {"b"}}},
			wantRoute: 0,
		},
		{
			name:      "header any of the request's field lines",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {"b"}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Version": {"a", "b"}}},
			wantRoute: 0,
		},
		{
			name:      "header value mismatch",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {"a"}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Version": {"ab"}}},
			wantRoute: noMatch,
		},
		{
			name:      "missing header",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {"a"}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Other": {"a"}}},
			wantRoute: noMatch,
		},
		{
			name:      "nil request headers",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {"a"}}}},
			req:       Request{Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "all header names must match",
			routes:    []Route{{Headers: map[string][]string{"X-A": {"1"}, "X-B": {"2"}}}},
			req:       Request{Path: "/", Header: http.Header{"X-A": {"1"}, "X-B": {"3"}}},
			wantRoute: noMatch,
		},
		{
			name:      "header regex matches case-insensitively",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {`~*^v\d+$`}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Version": {"V12"}}},
			wantRoute: 0,
		},
		{
			name:      "header regex is unanchored",
			routes:    []Route{{Headers: map[string][]string{"User-Agent": {`~*mobile`}}}},
			req:       Request{Path: "/", Header: http.Header{"User-Agent": {"Foo Mobile Safari"}}},
			wantRoute: 0,
		},
		{
			name:      "header regex mismatch",
			routes:    []Route{{Headers: map[string][]string{"X-Version": {`~*^v\d+$`}}}},
			req:       Request{Path: "/", Header: http.Header{"X-Version": {"v1x"}}},
			wantRoute: noMatch,
		},
		// SNIs.
		{
			name:      "SNI matches case-insensitively, trailing dot ignored",
			routes:    []Route{{SNIs: []string{"a.example."}}},
			req:       Request{Path: "/", SNI: "A.Example."},
			wantRoute: 0,
		},
		{
			name:      "SNI mismatch",
			routes:    []Route{{SNIs: []string{"a.example"}}},
			req:       Request{Path: "/", SNI: "b.example"},
			wantRoute: noMatch,
		},
		{
			name:      "route with SNIs does not match a request without SNI",
			routes:    []Route{{SNIs: []string{"a.example"}}},
			req:       Request{Path: "/"},
			wantRoute: noMatch,
		},
		{
			name:      "route without SNIs matches any SNI",
			routes:    []Route{{Paths: []string{"/"}}},
			req:       Request{Path: "/", SNI: "x.example"},
			wantRoute: 0, wantStrip: 1,
		},
		{
			name:      "empty table",
			routes:    nil,
			req:       Request{Host: "a", Path: "/"},
			wantRoute: noMatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Compile(tt.routes)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, ok := tab.Match(&tt.req)
			if tt.wantRoute == noMatch {
				if ok {
					t.Fatalf("Match = %+v, want no match", got)
				}
			} else {
				want := Match{Route: tt.wantRoute, StripLen: tt.wantStrip}
				if !ok || got != want {
					t.Fatalf("Match = %+v, %v; want %+v, true", got, ok, want)
				}
			}
			// The reference router must agree on every hand-written case.
			ref, refOK := refMatch(tt.routes, &tt.req)
			if ref != got || refOK != ok {
				t.Fatalf("reference = %+v, %v; table = %+v, %v", ref, refOK, got, ok)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name      string
		routes    []Route
		wantIndex int
		wantField string
		wantMsg   string // full error text must contain this
	}{
		{
			name:      "invalid regex names route and path",
			routes:    []Route{{Name: "ok", Paths: []string{"/"}}, {Name: "x"}, {Name: "y"}, {Name: "api", Paths: []string{"/", "~/("}}},
			wantIndex: 3, wantField: "paths[1]",
			wantMsg: `route "api" (#3): paths[1]: invalid regex "~/(": error parsing regexp`,
		},
		{
			name:      "unnamed route",
			routes:    []Route{{Paths: []string{"foo"}}},
			wantIndex: 0, wantField: "paths[0]",
			wantMsg: `route #0: paths[0]: path "foo" must start with "/" or "~"`,
		},
		{
			name:      "empty path",
			routes:    []Route{{Name: "r", Paths: []string{""}}},
			wantIndex: 0, wantField: "paths[0]", wantMsg: "empty path",
		},
		{
			name:      "Exact path must start with slash",
			routes:    []Route{{Name: "r", Paths: []string{"~/x"}, PathKind: PathExact}},
			wantIndex: 0, wantField: "paths[0]", wantMsg: `must start with "/"`,
		},
		{
			name:      "unknown path kind",
			routes:    []Route{{Name: "r", Paths: []string{"/"}, PathKind: 9}},
			wantIndex: 0, wantField: "path_kind", wantMsg: "unknown path kind 9",
		},
		{
			name:      "empty host",
			routes:    []Route{{Name: "r", Hosts: []string{"a.com", ""}}},
			wantIndex: 0, wantField: "hosts[1]", wantMsg: "empty host",
		},
		{
			name:      "port without name",
			routes:    []Route{{Name: "r", Hosts: []string{":80"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "empty name",
		},
		{
			name:      "bare wildcard host",
			routes:    []Route{{Name: "r", Hosts: []string{"*"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "wildcard",
		},
		{
			name:      "wildcard in the middle",
			routes:    []Route{{Name: "r", Hosts: []string{"a.*.com"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "leftmost or rightmost",
		},
		{
			name:      "partial-label wildcard",
			routes:    []Route{{Name: "r", Hosts: []string{"*a.com"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "leftmost or rightmost",
		},
		{
			name:      "two wildcards",
			routes:    []Route{{Name: "r", Hosts: []string{"*.a.*"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "only one wildcard",
		},
		{
			name:      "invalid character in host",
			routes:    []Route{{Name: "r", Hosts: []string{"exa mple.com"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "invalid character",
		},
		{
			name:      "empty label",
			routes:    []Route{{Name: "r", Hosts: []string{"a..com"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "empty label",
		},
		{
			name:      "non-ASCII host",
			routes:    []Route{{Name: "r", Hosts: []string{"\u212a.com"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "invalid character",
		},
		{
			name:      "port out of range",
			routes:    []Route{{Name: "r", Hosts: []string{"a.com:99999"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "invalid port",
		},
		{
			name:      "port zero",
			routes:    []Route{{Name: "r", Hosts: []string{"a.com:0"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "invalid port",
		},
		{
			name:      "bad IPv6",
			routes:    []Route{{Name: "r", Hosts: []string{"[1.2.3.4]"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "invalid IPv6",
		},
		{
			name:      "host too long",
			routes:    []Route{{Name: "r", Hosts: []string{strings.Repeat("a.", 127) + "com"}}},
			wantIndex: 0, wantField: "hosts[0]", wantMsg: "longer than 253",
		},
		{
			name:      "lowercase method",
			routes:    []Route{{Name: "r", Methods: []string{"GET", "post"}}},
			wantIndex: 0, wantField: "methods[1]", wantMsg: `method "post" must be uppercase`,
		},
		{
			name:      "invalid method",
			routes:    []Route{{Name: "r", Methods: []string{"GE T"}}},
			wantIndex: 0, wantField: "methods[0]", wantMsg: "invalid method",
		},
		{
			name:      "Host header in headers",
			routes:    []Route{{Name: "r", Headers: map[string][]string{"host": {"a"}}}},
			wantIndex: 0, wantField: `headers["host"]`, wantMsg: "use hosts",
		},
		{
			name:      "invalid header regex",
			routes:    []Route{{Name: "r", Headers: map[string][]string{"X-A": {"ok", "~*("}}}},
			wantIndex: 0, wantField: `headers["X-A"][1]`, wantMsg: `invalid regex "~*("`,
		},
		{
			name:      "header without values",
			routes:    []Route{{Name: "r", Headers: map[string][]string{"X-A": {}}}},
			wantIndex: 0, wantField: `headers["X-A"]`, wantMsg: "no values",
		},
		{
			name:      "invalid header name",
			routes:    []Route{{Name: "r", Headers: map[string][]string{"X A": {"1"}}}},
			wantIndex: 0, wantField: `headers["X A"]`, wantMsg: "invalid header name",
		},
		{
			name:      "duplicate header name after canonicalization",
			routes:    []Route{{Name: "r", Headers: map[string][]string{"X-A": {"1"}, "x-a": {"2"}}}},
			wantIndex: 0, wantField: `headers["x-a"]`, wantMsg: "duplicate header name",
		},
		{
			name:      "wildcard SNI",
			routes:    []Route{{Name: "r", SNIs: []string{"*.a.com"}}},
			wantIndex: 0, wantField: "snis[0]", wantMsg: "invalid SNI",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Compile(tt.routes)
			if err == nil {
				t.Fatalf("Compile succeeded (%d routes), want error", tab.Len())
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *CompileError", err, err)
			}
			if ce.Index != tt.wantIndex || ce.Field != tt.wantField {
				t.Errorf("Index, Field = %d, %q; want %d, %q", ce.Index, ce.Field, tt.wantIndex, tt.wantField)
			}
			if ce.Name != tt.routes[tt.wantIndex].Name {
				t.Errorf("Name = %q, want %q", ce.Name, tt.routes[tt.wantIndex].Name)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestLen(t *testing.T) {
	routes := []Route{{Paths: []string{"/a"}}, {Paths: []string{"/b", "~/c"}}, {}}
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != len(routes) {
		t.Fatalf("Len = %d, want %d", tab.Len(), len(routes))
	}
}

func TestPathKindString(t *testing.T) {
	tests := []struct {
		kind PathKind
		want string
	}{
		{kind: PathKong, want: "kong"},
		{kind: PathExact, want: "exact"},
		{kind: PathPrefix, want: "prefix"},
		{kind: 7, want: "PathKind(7)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.kind, got, tt.want)
		}
	}
}

// TestMatchAllocs guards the zero-allocation promise for every kind of
// match, including regex paths (StripLen) and header regexes.
func TestMatchAllocs(t *testing.T) {
	routes := []Route{
		{Hosts: []string{"example.com"}, Paths: []string{"/api", `~/v\d+/users`}},
		{Hosts: []string{"*.example.com"}, Paths: []string{"/"}, PathKind: PathPrefix, WildcardOneLabel: true},
		{Hosts: []string{"example.*"}, Paths: []string{"/x"}, PathKind: PathExact},
		{Paths: []string{"/"}, Headers: map[string][]string{"X-V": {`~*^b\d`}}, Methods: []string{"GET"}, SNIs: []string{"s.example"}},
	}
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []Request{
		{Host: "EXAMPLE.com:80", Path: "/v2/users/1"},
		{Host: "example.com", Path: "/api/x"},
		{Host: "a.example.com", Path: "/z"},
		{Host: "example.org", Path: "/x"},
		{Host: "other", Path: "/q", Method: "GET", SNI: "s.example", Header: http.Header{"X-V": {"B1"}}},
		{Host: "other", Path: "/q"},
	}
	for i := range reqs {
		if _, ok := tab.Match(&reqs[i]); !ok && i != len(reqs)-1 {
			t.Fatalf("request %d did not match", i)
		}
		allocs := testing.AllocsPerRun(200, func() { tab.Match(&reqs[i]) })
		if allocs != 0 {
			t.Errorf("request %d: %v allocs per Match, want 0", i, allocs)
		}
	}
}

// TestMatchConcurrent exercises a shared table from several goroutines
// (meaningful under -race).
func TestMatchConcurrent(t *testing.T) {
	routes := []Route{
		{Hosts: []string{"a.example"}, Paths: []string{`~/r/(\d+)`}},
		{Paths: []string{"/"}},
	}
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				req := Request{Host: "a.example", Path: "/r/" + strings.Repeat("1", 1+(g+i)%5)}
				m, ok := tab.Match(&req)
				if !ok || m.Route != 0 || m.StripLen != len(req.Path) {
					errs <- req.Path
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for p := range errs {
		t.Errorf("wrong match for %q", p)
	}
}
