// Package kongc_test compares the C helpers of Weir's built-in C plugins
// (kong.h, re.h) with the Go standard library behaviour the Go plugins
// they replaced had: url.ParseQuery / url.Values.Encode /
// url.QueryUnescape, json.Unmarshal + json.Marshal of interface{} values,
// and regexp full matches. kong_test.c is compiled for this machine and
// driven line by line.
package kongc_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// driver is the compiled kong_test.c.
type driver struct {
	in  *bufio.Writer
	out *bufio.Scanner
}

func start(t *testing.T) *driver {
	t.Helper()
	var cc string
	for _, name := range []string{os.Getenv("CC"), "cc", "clang", "gcc"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Fatal("no C compiler (cc, clang or gcc): run go tool task deps:cc")
	}
	bin := filepath.Join(t.TempDir(), "kong_test")
	cmd := exec.Command(cc, "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-DPW_NO_TARGET_CHECK",
		"-I../../../sdk/c/include", "-I.", "../../../sdk/c/src/proxy_wasm.c", "testdata/kong_test.c", "-o", bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	run := exec.Command(bin)
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		run.Wait()
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	return &driver{in: bufio.NewWriter(stdin), out: sc}
}

// call sends one request and returns the decoded answer.
func (d *driver) call(t *testing.T, mode string, fields ...string) string {
	t.Helper()
	d.in.WriteString(mode)
	for _, f := range fields {
		d.in.WriteString(" " + hex.EncodeToString([]byte(f)))
	}
	d.in.WriteString("\n")
	if err := d.in.Flush(); err != nil {
		t.Fatal(err)
	}
	if !d.out.Scan() {
		t.Fatalf("driver exited: %v", d.out.Err())
	}
	b, err := hex.DecodeString(d.out.Text())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// randomStrings returns n strings over alphabet, up to max bytes, from a
// fixed seed (reproducible).
func randomStrings(n, max int, alphabet string) []string {
	r := rand.New(rand.NewSource(1))
	out := make([]string, n)
	for i := range out {
		b := make([]byte, r.Intn(max+1))
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		out[i] = string(b)
	}
	return out
}

func TestQueryMatchesNetURL(t *testing.T) {
	d := start(t)
	cases := append([]string{"", "a", "a=1", "a=1&a=2&b", "b=2&a=1", "a=%41%zz", "a;b=1&c=2", "+=+&%20=%2", "k=v=w", "&&", "x=%E2%82%AC",
		"apikey=k1&apikey=k2", "é=ü&~-._=ok"}, randomStrings(3000, 12, "ab=&%;+2Fz ~é")...)
	for _, s := range cases {
		q, err := url.ParseQuery(s)
		want := q.Encode()
		if err != nil {
			want = "!" + want
		}
		if got := d.call(t, "query", s); got != want {
			t.Errorf("query %q: C %q, Go %q", s, got, want)
		}
		wantU, err := url.QueryUnescape(s)
		if err != nil {
			wantU = "ERR"
		}
		if got := d.call(t, "unescape", s); got != wantU {
			t.Errorf("unescape %q: C %q, Go %q", s, got, wantU)
		}
	}
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	d := start(t)
	cases := []string{
		`{}`, `{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"z":{"y":[1,{"c":1,"b":2}],"x":null}}`, `[1,2.50,-0,1e2,1E-7,0.000001,1e21,123456789012345678901]`,
		`"<a&b>"`, `"\u2028\u2029"`, "\"\xff\xfe\"", `"\ud800"`, `"tab\there\n\r\u0001\u007f"`, `{"big":1e400}`, `[-1e-400]`,
		`true`, `false`, `null`, `" spaced "`, `{"k" : [ 1 , 2 ] }`, `"é€𝄞"`, `{"\u00e9":1,"e":2,"E":3}`, `1.7976931348623157e308`,
		`5e-324`, `0.1`, `100000000000000000000000`, `[[[[[]]]]]`,
	}
	deep := func(n int) string { return strings.Repeat(`{"a":[`, n) + "1" + strings.Repeat("]}", n) }
	cases = append(cases, deep(60)) // 120 levels: within KC_JSON_MAX_DEPTH
	for _, doc := range cases {
		var v any
		want := "ERR"
		if json.Unmarshal([]byte(doc), &v) == nil {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			want = string(b)
		}
		if got := d.call(t, "json", doc); got != want {
			t.Errorf("json %s: C %s, Go %s", doc, got, want)
		}
	}
}

// TestJSONDepthBounded: documents nesting deeper than KC_JSON_MAX_DEPTH
// (128) are refused instead of recursing off the module's stack.
func TestJSONDepthBounded(t *testing.T) {
	d := start(t)
	for _, n := range []int{129, 5000, 10000} {
		doc := strings.Repeat("[", n) + strings.Repeat("]", n)
		if got := d.call(t, "json", doc); got != "ERR" {
			t.Errorf("depth %d: C %.40q..., want ERR", n, got)
		}
	}
}

func TestOriginPatternsMatchRegexp(t *testing.T) {
	d := start(t)
	subjects := []string{"", "a", "b", "ab", "abc", "http://a.test", "https://b.test", "api.example.com", "x.example.com.evil",
		"a.b", "a-b", "A", "0", "9z", "_", " ", "[", "]", "^", "-", "a{2}", "aa", "aaa", "{", "x{", "\\", ".", "http://a.test:8080"}
	patterns := []string{
		`a`, `.*`, `(.*)\.example\.com`, `https?://[a-z.]+`, `a|b`, `(a|)b`, `a{2}`, `a{2,}`, `a{1,2}`, `x{`, `a{,2}`, `[^a]`, `[]a]`, `[^]a]`,
		`[a-]`, `[-a]`, `[\^a]`, `[\]]`, `[\\]`, `[\-]`, `[a\-z]`, `\d+`, `[\d]`, `\D`, `\w+`, `[\w.]+`, `\s`, `[[:alpha:]]+`, `[[:^digit:]]`,
		`(?:a|b)c?`, `(?P<n>a)b`, `a*?`, `a+?b`, `\.`, `\\`, `\^`, `\$`, `\[`, `\{2\}`, `a$`, `^a`, `[\x41]`, `\x41`, `a.c`,
		`[a-c][^0-9]`, `()`, `(|a)`, `a||b`, `[.][*]`, `[{}]`, `\{`, `a\}`, `[[]`, `[[-]`, `[-^]`, `[\^-]`,
		// RE2 errors: C must refuse them too
		`(unclosed`, `a)`, `*a`, `a**`, `[z-a]`, `[a`, `\8`, `a{1001}`, `x{2}{3}`, `\k`,
	}
	// Valid RE2 that Weir's origin patterns refuse, saying so.
	unsupported := map[string]bool{}
	for _, p := range []string{`(?i)a`, `\bA`, `\pL`, `[é]`, `a{300}`, `\Qa.b\E`, `\z`, `\A`} {
		unsupported[p] = true
		patterns = append(patterns, p)
	}
	for _, p := range patterns {
		re, goErr := regexp.Compile(`^(?:` + p + `)$`)
		for _, s := range subjects {
			got := d.call(t, "re", p, s)
			switch {
			case goErr != nil:
				if !strings.HasPrefix(got, "ERR ") || strings.Contains(got, "regcomp") {
					t.Errorf("pattern %q: Go refuses it (%v), C says %q", p, goErr, got)
				}
			case unsupported[p]:
				if !strings.Contains(got, "not supported") {
					t.Errorf("pattern %q: want a 'not supported' refusal, C says %q", p, got)
				}
			default:
				want := fmt.Sprint(map[bool]int{false: 0, true: 1}[re.MatchString(s)])
				if got != want {
					t.Errorf("pattern %q subject %q: C %q, Go %s", p, s, got, want)
				}
			}
			if goErr != nil || unsupported[p] {
				break // the answer does not depend on the subject
			}
		}
	}
}
