package abi

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Pairs serialization (spec "Maps with HTTP fields and/or gRPC metadata",
// cpp-host pairs_util.cc), all integers little-endian u32:
//
//	count
//	count × (key_len, value_len)
//	count × (key bytes, 0x00, value bytes, 0x00)
//
// Lengths exclude the NUL terminators, so the size is
// 4 + Σ(8 + key_len + 1 + value_len + 1). Keys and values are opaque bytes
// (they may even contain NUL); repeated keys are repeated pairs, in order.
// An empty map may arrive as zero bytes or as the single byte 0x00.

// Errors returned by DecodePairs. They are returned unwrapped, so decoding
// hostile input never allocates.
var (
	// ErrPairsTruncated: the buffer ends before the declared count, length
	// table, or key/value bytes.
	ErrPairsTruncated = errors.New("abi: pairs: buffer shorter than its declared lengths")
	// ErrPairsTooLarge: the buffer is longer than MaxPairsBytes.
	ErrPairsTooLarge = errors.New("abi: pairs: buffer exceeds MaxPairsBytes")
	// ErrPairsTooMany: the declared count exceeds MaxPairsCount.
	ErrPairsTooMany = errors.New("abi: pairs: count exceeds MaxPairsCount")
	// ErrPairsBadTerminator: a key or value is not followed by 0x00.
	ErrPairsBadTerminator = errors.New("abi: pairs: key or value not NUL-terminated")
	// ErrPairsTrailingBytes: bytes remain after the last declared pair
	// (cpp-host rejects these too).
	ErrPairsTrailingBytes = errors.New("abi: pairs: trailing bytes after the last pair")
)

// PairsSize returns the number of bytes EncodePairs appends for pairs.
func PairsSize(pairs [][2]string) int {
	n := 4
	for i := range pairs {
		n += 8 + len(pairs[i][0]) + 1 + len(pairs[i][1]) + 1
	}
	return n
}

// EncodePairs appends the serialization of pairs to dst and returns the
// extended slice. It allocates only if dst lacks PairsSize(pairs) spare
// capacity. An empty map encodes as four zero bytes (count 0); callers that
// hand an empty map to a guest should instead write ptr=0, size=0.
// It does not apply the decoding limits: hosts may legitimately serve maps
// larger than what they accept back. Each key and value must be shorter
// than 4 GiB.
func EncodePairs(dst []byte, pairs [][2]string) []byte {
	dst = slices.Grow(dst, PairsSize(pairs))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs)))
	for i := range pairs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs[i][0])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs[i][1])))
	}
	for i := range pairs {
		dst = append(dst, pairs[i][0]...)
		dst = append(dst, 0)
		dst = append(dst, pairs[i][1]...)
		dst = append(dst, 0)
	}
	return dst
}

// DecodePairs validates the serialized pairs in b and then calls fn for each
// pair in order until fn returns false. fn is called only if the whole
// buffer is valid, so a malformed buffer never yields a partial map. The
// slices passed to fn alias b (no copying, no allocation); copy them to keep
// them past the call. Zero bytes or the single byte 0x00 decode as an empty
// map. Every length is checked against the buffer and the limits
// (MaxPairsBytes, MaxPairsCount) before use, so b may come straight from
// guest memory.
func DecodePairs(b []byte, fn func(k, v []byte) bool) error {
	n, err := validatePairs(b)
	if err != nil || n == 0 {
		return err
	}
	data := 4 + 8*n
	for i := range n {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		k := b[data : data+kl : data+kl]
		data += kl + 1
		v := b[data : data+vl : data+vl]
		data += vl + 1
		if !fn(k, v) {
			return nil
		}
	}
	return nil
}

// validatePairs checks b completely and returns the pair count.
func validatePairs(b []byte) (int, error) {
	if len(b) > MaxPairsBytes {
		return 0, ErrPairsTooLarge
	}
	if len(b) == 0 || (len(b) == 1 && b[0] == 0) {
		return 0, nil
	}
	if len(b) < 4 {
		return 0, ErrPairsTruncated
	}
	count := binary.LittleEndian.Uint32(b)
	if count > MaxPairsCount {
		return 0, ErrPairsTooMany
	}
	n := int(count)
	// len(b) <= MaxPairsBytes and n <= MaxPairsCount, so no int overflow
	// below even with 32-bit int: every added length is first bounded by
	// the remaining buffer.
	if len(b)-4 < 8*n {
		return 0, ErrPairsTruncated
	}
	data := 4 + 8*n
	for i := range n {
		for _, l := range [2]uint32{
			binary.LittleEndian.Uint32(b[4+8*i:]),
			binary.LittleEndian.Uint32(b[8+8*i:]),
		} {
			if uint64(l) >= uint64(len(b)-data) { // need l bytes plus NUL
				return 0, ErrPairsTruncated
			}
			data += int(l)
			if b[data] != 0 {
				return 0, ErrPairsBadTerminator
			}
			data++
		}
	}
	if data != len(b) {
		return 0, ErrPairsTrailingBytes
	}
	return n, nil
}

// ParsePairs decodes b into a new slice of string pairs. It is the
// allocating convenience form of DecodePairs, for cold paths such as
// foreign-function arguments.
func ParsePairs(b []byte) ([][2]string, error) {
	n, err := validatePairs(b)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([][2]string, 0, n)
	err = DecodePairs(b, func(k, v []byte) bool {
		out = append(out, [2]string{string(k), string(v)})
		return true
	})
	return out, err
}
