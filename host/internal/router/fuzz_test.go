package router

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzSource turns fuzz bytes into choices; it yields zeros once exhausted.
type fuzzSource struct {
	data []byte
	pos  int
}

func (s *fuzzSource) next() byte {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return b
}

func (s *fuzzSource) intn(n int) int { return int(s.next()) % n }

// pick returns an element of pool, or with probability 1/32 a raw string
// taken from the input (to reach validation and odd inputs).
func (s *fuzzSource) pick(pool []string) string {
	b := s.next()
	if b >= 248 {
		n := s.intn(8)
		out := make([]byte, 0, n)
		for range n {
			out = append(out, s.next())
		}
		return string(out)
	}
	return pool[int(b)%len(pool)]
}

var (
	fzRouteHosts = []string{"a.com", "A.com", "b.a.com", "*.a.com", "*.b.a.com", "a.*", "a.b.*",
		"a.com:8000", "*.a.com:8000", "a.*:8000", "[::1]", "[::1]:8000", "c.org", "x.y"}
	fzKongPaths = []string{"/", "/a", "/a/", "/ab", "/a/b", "/abc", "/b", `~/a/\d+`, "~/a", "~/(a|ab)",
		"~/ab?c*", "~^/a", "~.*", `~/a/(?P<x>b)`, "~", "~/a$", "~(?i)/A", "~/a|/b", `~\b/a`, "~/a/(b|c)/?"}
	fzIngressPaths = []string{"/", "/a", "/a/", "/ab", "/a/b", "/a//", "/abc", "/b/", "//"}
	fzMethods      = []string{"GET", "POST", "PUT"}
	fzRouteSNIs    = []string{"a.com", "b.a.com", "A.com."}
	fzHeaderNames  = []string{"X-A", "x-b", "X-C"}
	fzHeaderValues = []string{"v", "V2", `~*^v\d$`, "~*x", ""}

	fzReqHosts = []string{"a.com", "A.COM", "b.a.com", "x.b.a.com", "y.x.b.a.com", "a.com:8000", "a.com:9000",
		"b.a.com:8000", "a.b", "a.b.c", "a.b.c.d:8000", "[::1]", "[::1]:8000", "", "c.org:80", "a.com:",
		".a.com", "a..a.com", "a.", "a.b.", "x.y:08000", "a.com:x", "x.Y"}
	fzReqPaths = []string{"/", "/a", "/a/", "/ab", "/abc", "/a/b", "/a/12", "/a//", "", "/b", "/a/b/c",
		"/A", "//", "/ab/c", "/a/c/", "/abcc/d"}
	fzReqMethods = []string{"GET", "POST", "DELETE", ""}
	fzReqSNIs    = []string{"", "a.com", "A.COM.", "b.a.com", "x"}
	fzReqValues  = []string{"v", "V", "v2", "xx", "V3", ""}
)

func genRoutes(s *fuzzSource) []Route {
	n := 1 + s.intn(12)
	routes := make([]Route, n)
	for i := range routes {
		r := &routes[i]
		r.PathKind = PathKind(s.intn(3))
		for range s.intn(4) {
			r.Hosts = append(r.Hosts, s.pick(fzRouteHosts))
		}
		pool := fzKongPaths
		if r.PathKind != PathKong {
			pool = fzIngressPaths
		}
		for range s.intn(4) {
			r.Paths = append(r.Paths, s.pick(pool))
		}
		for range s.intn(4) / 2 {
			r.Methods = append(r.Methods, s.pick(fzMethods))
		}
		if k := s.intn(6); k >= 3 {
			r.Headers = map[string][]string{}
			for range k - 2 {
				name := s.pick(fzHeaderNames)
				for range 1 + s.intn(2) {
					r.Headers[name] = append(r.Headers[name], s.pick(fzHeaderValues))
				}
			}
		}
		if s.intn(4) == 0 {
			r.SNIs = append(r.SNIs, s.pick(fzRouteSNIs))
		}
		r.RegexPriority = s.intn(4) - 1
		r.WildcardOneLabel = s.intn(2) == 1
	}
	return routes
}

func genRequest(s *fuzzSource) Request {
	req := Request{
		Host:   s.pick(fzReqHosts),
		Path:   s.pick(fzReqPaths),
		Method: s.pick(fzReqMethods),
		SNI:    s.pick(fzReqSNIs),
	}
	if s.intn(3) == 0 {
		req.Path += s.pick(fzReqPaths)
	}
	if k := s.intn(4); k > 0 {
		req.Header = http.Header{}
		for range k {
			name := http.CanonicalHeaderKey(s.pick(fzHeaderNames))
			req.Header[name] = append(req.Header[name], s.pick(fzReqValues))
		}
	}
	return req
}

// checkDifferential compiles a random route set and compares the table with
// the reference router on several random requests.
func checkDifferential(t *testing.T, data []byte) {
	s := &fuzzSource{data: data}
	routes := genRoutes(s)
	tab, err := Compile(routes)
	if err != nil {
		var ce *CompileError
		if !errors.As(err, &ce) || ce.Index < 0 || ce.Index >= len(routes) {
			t.Fatalf("Compile error %v does not name a route", err)
		}
		return
	}
	for range 8 {
		req := genRequest(s)
		got, ok := tab.Match(&req)
		want, wantOK := refMatch(routes, &req)
		if got != want || ok != wantOK {
			t.Fatalf("routes %#v\nrequest %#v\ntable     = %+v, %v\nreference = %+v, %v", routes, req, got, ok, want, wantOK)
		}
		if ok && (got.StripLen < 0 || got.StripLen > len(req.Path)) {
			t.Fatalf("StripLen %d out of range for %q", got.StripLen, req.Path)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x05\x01\x03\x07\x02\x09\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("\x0b\x02\x02\x00\x03\x05\x01\x06\x04\x01\x00\x01\x01\x03\x0a\x00\x02\x07\x07\x05\x03\x02\x01\x01"))
	f.Add([]byte("\xff\xfa\x07abc\x00\x01\xf9~(\x02\x03\x04\x05\x06\x07\x08\x09"))
	rng := rand.New(rand.NewPCG(7, 7))
	for range 16 {
		b := make([]byte, 96)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		f.Add(b)
	}
	f.Fuzz(checkDifferential)
}

// TestDifferentialRandom runs the FuzzMatch property on a fixed set of
// pseudo-random inputs so that plain `go test` covers it broadly.
func TestDifferentialRandom(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		b := make([]byte, 160)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		checkDifferential(t, b)
	}
}

// TestMatchEnd compares the allocation-free backtracker with regexp.
func TestMatchEnd(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		input   string
	}{
		{name: "literal", pattern: "/abc", input: "/abcdef"},
		{name: "no match", pattern: "/abd", input: "/abcdef"},
		{name: "leftmost-first alternation", pattern: "/(a|ab)", input: "/abc"},
		{name: "alternation second branch", pattern: "/(x|ab)", input: "/abc"},
		{name: "greedy star", pattern: "/a*", input: "/aaab"},
		{name: "lazy star", pattern: "/a*?", input: "/aaab"},
		{name: "lazy plus then literal", pattern: "/a+?b", input: "/aaab"},
		{name: "empty pattern", pattern: "", input: "/x"},
		{name: "end anchor", pattern: "/a$", input: "/a"},
		{name: "end anchor fails", pattern: "/a$", input: "/ab"},
		{name: "word boundary", pattern: `/\w+\b`, input: "/abc/d"},
		{name: "not word boundary", pattern: `/a\B`, input: "/ab"},
		{name: "utf8", pattern: "/é+", input: "/ééx"},
		{name: "invalid utf8", pattern: "/.", input: "/\xff"},
		{name: "any char not newline", pattern: "/.*", input: "/ab\ncd"},
		{name: "dotall", pattern: "(?s)/.*", input: "/ab\ncd"},
		{name: "case fold", pattern: "(?i)/ABC", input: "/abC/x"},
		{name: "class", pattern: `/[a-c]+\d{2,3}`, input: "/abc1234"},
		{name: "nested groups", pattern: `/((a|b)c)+`, input: "/acbcac/"},
		{name: "multiline caret", pattern: `(?m)/a\n^b`, input: "/a\nbc"},
		{name: "empty input", pattern: "a?", input: ""},
		{name: "empty input no match", pattern: "a", input: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := compilePathRegex("~" + tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			want := -1
			if loc := r.re.FindStringIndex(tt.input); loc != nil {
				want = loc[1]
			}
			if got := matchEnd(r.prog, tt.input); got != want {
				t.Errorf("matchEnd = %d, want %d", got, want)
			}
			if got := r.end(tt.input); got != want {
				t.Errorf("end = %d, want %d", got, want)
			}
		})
	}
}

func TestMatchEndTooBig(t *testing.T) {
	r, err := compilePathRegex(`~/(a|b|c|d|e|f|g|h)*x?`)
	if err != nil {
		t.Fatal(err)
	}
	big := "/" + string(make([]byte, maxVisitBits/len(r.prog.Inst)+1))
	if got := matchEnd(r.prog, big); got != errTooBig {
		t.Fatalf("matchEnd on %d bytes = %d, want errTooBig", len(big), got)
	}
	// end falls back to regexp for such inputs.
	if got := r.end(big); got != 1 {
		t.Fatalf("end = %d, want 1", got)
	}
}

func FuzzMatchEnd(f *testing.F) {
	f.Add(`/(a|ab)(c|bcd)(d*)`, "/abcd")
	f.Add(`/a*?b|/a`, "/aaab")
	f.Add(`(?i)\b/é\w+`, "/ÉÉa")
	f.Add(`(?m)$`, "\n")
	f.Fuzz(func(t *testing.T, pattern, input string) {
		r, err := compilePathRegex("~" + pattern)
		if err != nil {
			return
		}
		re := regexp.MustCompile(`^(?:` + pattern + `)`)
		want := -1
		if loc := re.FindStringIndex(input); loc != nil {
			want = loc[1]
		}
		if got := matchEnd(r.prog, input); got != want && got != errTooBig {
			t.Fatalf("matchEnd(%q, %q) = %d, want %d", pattern, input, got, want)
		}
		if got := r.end(input); got != want {
			t.Fatalf("end(%q, %q) = %d, want %d", pattern, input, got, want)
		}
		if want >= 0 && !slices.ContainsFunc(r.prefixes, func(p string) bool { return strings.HasPrefix(input, p) }) {
			t.Fatalf("literal prefixes %q of %q but %q matches", r.prefixes, pattern, input)
		}
		if len(r.prefixes) == 0 {
			t.Fatalf("no literal prefixes for %q", pattern)
		}
	})
}

func TestLiteralPrefixes(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{name: "literal", pattern: `/api/v\d+`, want: []string{"/api/v"}},
		{name: "alternation", pattern: `/(orders|carts)/\d+`, want: []string{"/orders/", "/carts/"}},
		{name: "anchor at start skipped", pattern: `^/a`, want: []string{"/a"}},
		{name: "small class", pattern: `/[ab]x`, want: []string{"/ax", "/bx"}},
		{name: "plus keeps the first copy", pattern: `/(ab)+c`, want: []string{"/ab"}},
		{name: "optional stops", pattern: `/a?b`, want: []string{"/"}},
		{name: "case folding stops", pattern: `(?i)/abc`, want: []string{""}},
		{name: "dot stops", pattern: `.*`, want: []string{""}},
		{name: "empty branch", pattern: `/(|x)y`, want: []string{"/y", "/xy"}},
		{name: "replacement char is no literal", pattern: "/\uFFFD", want: []string{"/"}},
		{name: "class with replacement char", pattern: "/[\uFFFD]", want: []string{"/"}},
		{name: "too many combinations", pattern: `/[abc][def][ghi]`, want: []string{"/ad", "/ae", "/af", "/bd", "/be", "/bf", "/cd", "/ce", "/cf"}},
		{name: "long literal truncated", pattern: "/" + strings.Repeat("a", 100) + "$", want: []string{"/" + strings.Repeat("a", maxPrefixLen-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := compilePathRegex("~" + tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Clone(r.prefixes)
			want := slices.Clone(tt.want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("prefixes = %q, want %q", r.prefixes, tt.want)
			}
		})
	}
}
