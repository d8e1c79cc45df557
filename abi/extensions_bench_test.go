package abi

import "testing"

// BenchmarkDecodeForeignArgs measures the host-side decoding of the
// weir.* arguments every rate-limited, key-authenticated request makes
// (two counter increments, a lookup and a set-consumer call).
func BenchmarkDecodeForeignArgs(b *testing.B) {
	incr := CounterIncrArgs{Key: "consumer:0f3e5d1c-8d7a-4bde-9b1c-2a6f1f0c9e77:second", WindowSeconds: 1, Delta: 1}.Encode(nil)
	lookup := ConsumerLookupArgs{CredentialType: CredentialKeyAuth, Key: "bench-key"}.Encode(nil)
	set := SetConsumerArgs{ID: "0f3e5d1c-8d7a-4bde-9b1c-2a6f1f0c9e77", CredentialID: "c1"}.Encode(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCounterIncrArgs(incr); err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeConsumerLookupArgs(lookup); err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeSetConsumerArgs(set); err != nil {
			b.Fatal(err)
		}
	}
}
