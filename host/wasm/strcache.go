package wasm

import "hash/maphash"

// strCache turns short byte strings read from guest memory (header names
// and values, mostly the same few per plugin) into Go strings without
// allocating on a hit. It is two-way set associative: a string may live
// in either slot of its pair, so two strings a plugin uses on every
// request that happen to hash to the same pair (a chance of about one in
// forty for a plugin's handful, with a seed drawn per instance) both stay
// cached instead of evicting each other on every request. The first slot
// holds the pair's string used last; a miss allocates and takes it,
// moving the string there to the second (the older one goes). Churn
// (request ids, random values) thus costs one allocation per string, as
// without the cache, and cannot grow memory. Guarded by the instance lock.
type strCache struct {
	seed  maphash.Seed
	slots [strCacheSlots]string
}

const (
	strCacheSlots  = 256 // a power of two: 128 pairs
	strCacheMaxLen = 128 // longer strings are not cached
)

func (c *strCache) init() { c.seed = maphash.MakeSeed() }

// pair returns the index of the first slot of b's pair.
func (c *strCache) pair(b []byte) uint64 {
	return maphash.Bytes(c.seed, b) & (strCacheSlots - 2)
}

// get returns b as a string, from the cache when it holds an equal one.
func (c *strCache) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > strCacheMaxLen {
		return string(b)
	}
	i := c.pair(b)
	if s := c.slots[i]; s == string(b) {
		return s
	}
	if s := c.slots[i+1]; s == string(b) {
		c.slots[i], c.slots[i+1] = s, c.slots[i] // the first slot holds the one used last
		return s
	}
	s := string(b)
	c.slots[i+1] = c.slots[i]
	c.slots[i] = s
	return s
}
