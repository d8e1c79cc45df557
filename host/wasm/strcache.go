package wasm

import "hash/maphash"

// strCache turns short byte strings read from guest memory (header names
// and values, mostly the same few per plugin) into Go strings without
// allocating on a hit. It is direct-mapped: a miss allocates and replaces
// the slot, so churn (request ids, random values) costs one allocation
// per string, as without the cache, and cannot grow memory. Guarded by the
// instance lock.
type strCache struct {
	seed  maphash.Seed
	slots [strCacheSlots]string
}

const (
	strCacheSlots  = 256 // a power of two
	strCacheMaxLen = 128 // longer strings are not cached
)

func (c *strCache) init() { c.seed = maphash.MakeSeed() }

// get returns b as a string, from the cache when it holds an equal one.
func (c *strCache) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > strCacheMaxLen {
		return string(b)
	}
	i := maphash.Bytes(c.seed, b) & (strCacheSlots - 1)
	if s := c.slots[i]; s == string(b) {
		return s
	}
	s := string(b)
	c.slots[i] = s
	return s
}
