package httpwire

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestCanonicalKey(t *testing.T) {
	names := []string{"x-wasm", "X-Wasm", "content-type", "x-a-b-c", "", "-", "a", "x_y", "x y", "ÿ-key",
		strings.Repeat("k", nameMaxLen), strings.Repeat("k", nameMaxLen+1) + "-z"}
	for range 3 { // misses, then hits
		for _, n := range names {
			if got, want := CanonicalKey(n), http.CanonicalHeaderKey(n); got != want {
				t.Errorf("CanonicalKey(%q) = %q, want %q", n, got, want)
			}
		}
	}
}

// TestCanonicalKeyChurn: more distinct names than slots, from several
// goroutines, still give http.CanonicalHeaderKey's answer (run under
// -race for the lock-free slots).
func TestCanonicalKeyChurn(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 * nameSlots {
				n := fmt.Sprintf("x-name-%d-%d", i%(2*nameSlots), g%2)
				if got, want := CanonicalKey(n), http.CanonicalHeaderKey(n); got != want {
					errs <- fmt.Sprintf("CanonicalKey(%q) = %q, want %q", n, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestCanonicalKeyAllocs(t *testing.T) {
	CanonicalKey("x-plugin-header")
	if n := testing.AllocsPerRun(100, func() { CanonicalKey("x-plugin-header") }); n != 0 {
		t.Errorf("a repeated name allocates %v times, want 0", n)
	}
}

func TestLowerKey(t *testing.T) {
	names := []string{"X-Wasm", "x-wasm", "Content-Type", "", "ÿ-KEY", strings.Repeat("K", nameMaxLen+1)}
	for range 3 {
		for _, n := range names {
			if got, want := LowerKey(n), strings.ToLower(n); got != want {
				t.Errorf("LowerKey(%q) = %q, want %q", n, got, want)
			}
		}
	}
	LowerKey("X-Plugin-Header")
	if n := testing.AllocsPerRun(100, func() { LowerKey("X-Plugin-Header") }); n != 0 {
		t.Errorf("a repeated name allocates %v times, want 0", n)
	}
}

// TestNameCacheTwoWay: two names that share a slot pair are both kept.
func TestNameCacheTwoWay(t *testing.T) {
	c := &nameCache{seed: maphash.MakeSeed()}
	byPair := map[uint64]string{}
	var x, y string
	for i := 0; y == ""; i++ {
		n := fmt.Sprintf("x-name-%d", i)
		p := maphashIndex(c, n)
		if m, ok := byPair[p]; ok {
			x, y = m, n
		}
		byPair[p] = n
	}
	c.get(x, http.CanonicalHeaderKey)
	c.get(y, http.CanonicalHeaderKey)
	for _, name := range []string{x, y} {
		if n := testing.AllocsPerRun(10, func() { c.get(name, http.CanonicalHeaderKey) }); n != 0 {
			t.Errorf("%q (sharing a slot pair with the other) allocates %v times once cached", name, n)
		}
	}
}

func maphashIndex(c *nameCache, k string) uint64 {
	return maphash.String(c.seed, k) & (nameSlots - 2)
}
