package httpwire

import (
	"hash/maphash"
	"net/http"
	"strings"
	"sync/atomic"
)

// CanonicalKey is http.CanonicalHeaderKey for names a program sets over
// and over (a plugin's header names): it remembers recent results in a
// small lock-free cache, so a repeated non-canonical name
// ("x-request-id") costs no allocation. A miss costs one allocation, as
// http.CanonicalHeaderKey would, and replaces a slot, so churn cannot
// grow memory.
func CanonicalKey(k string) string { return canonCache.get(k, http.CanonicalHeaderKey) }

// LowerKey is strings.ToLower for header names (the names plugins read
// header maps with), cached as CanonicalKey is.
func LowerKey(k string) string { return lowerCache.get(k, strings.ToLower) }

// nameCache maps names to a transform of them. It is two-way set
// associative: a name lives in one of two neighbouring slots, chosen by
// its hash, so two names that share a slot pair usually both stay.
type nameCache struct {
	seed  maphash.Seed
	slots [nameSlots]atomic.Pointer[nameEntry]
}

type nameEntry struct{ raw, out string }

const (
	nameSlots  = 1024 // a power of two
	nameMaxLen = 64
)

var (
	canonCache = &nameCache{seed: maphash.MakeSeed()}
	lowerCache = &nameCache{seed: maphash.MakeSeed()}
)

func (c *nameCache) get(k string, f func(string) string) string {
	if len(k) > nameMaxLen {
		return f(k)
	}
	h := maphash.String(c.seed, k)
	i := h & (nameSlots - 2)
	a, b := &c.slots[i], &c.slots[i+1]
	if e := a.Load(); e != nil && e.raw == k {
		return e.out
	}
	if e := b.Load(); e != nil && e.raw == k {
		return e.out
	}
	out := f(k)
	if out != k { // names already in shape cost nothing to begin with
		// An empty slot first, then the one the hash picks.
		if a.Load() != nil && (b.Load() == nil || h>>63 != 0) {
			a = b
		}
		a.Store(&nameEntry{raw: k, out: out})
	}
	return out
}
