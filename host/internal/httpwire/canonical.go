package httpwire

import (
	"hash/maphash"
	"net/http"
	"sync/atomic"
)

// CanonicalKey is http.CanonicalHeaderKey for names a program sets over
// and over (a plugin's header names): it remembers recent results in a
// small lock-free, direct-mapped cache, so a repeated non-canonical name
// ("x-request-id") costs no allocation. A miss costs one allocation, as
// http.CanonicalHeaderKey would, and replaces the slot, so churn cannot
// grow memory.
func CanonicalKey(k string) string {
	if len(k) > canonMaxLen {
		return http.CanonicalHeaderKey(k)
	}
	slot := &canonCache[maphash.String(canonSeed, k)&(canonSlots-1)]
	if e := slot.Load(); e != nil && e.raw == k {
		return e.canon
	}
	c := http.CanonicalHeaderKey(k)
	if c != k { // canonical names cost nothing to begin with
		slot.Store(&canonEntry{raw: k, canon: c})
	}
	return c
}

type canonEntry struct{ raw, canon string }

const (
	canonSlots  = 512 // a power of two
	canonMaxLen = 64
)

var (
	canonSeed  = maphash.MakeSeed()
	canonCache [canonSlots]atomic.Pointer[canonEntry]
)
