package httpwire

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestCanonicalKey(t *testing.T) {
	names := []string{"x-wasm", "X-Wasm", "content-type", "x-a-b-c", "", "-", "a", "x_y", "x y", "ÿ-key",
		strings.Repeat("k", canonMaxLen), strings.Repeat("k", canonMaxLen+1) + "-z"}
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
			for i := range 4 * canonSlots {
				n := fmt.Sprintf("x-name-%d-%d", i%(2*canonSlots), g%2)
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
