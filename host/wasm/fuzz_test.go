package wasm

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/weirproxy/weir/abi"
)

// fuzzFuncs are the host functions FuzzHostCalls picks from: every env
// function the host registers.
var fuzzFuncs = append(append([]abi.HostFunc(nil), abi.HostFunctions...), abi.CompatFunctions...)

// maxFuzzCalls bounds the host calls of one input.
const maxFuzzCalls = 32

// fuzzArg turns a selector and a raw value into an argument biased
// towards interesting pointers and lengths.
func fuzzArg(sel byte, v uint32, t abi.ValType) uint64 {
	if t == abi.ValTypeI64 {
		return uint64(int64(int32(v))) // small negative and positive deltas
	}
	switch sel % 6 {
	case 0:
		v %= hcInitialMemory * 65536 // anywhere in the initial memory
	case 1:
		v = hcScratch + v%256 // the scratch area
	case 2:
		v %= 64 // a small length, id or enum
	case 3:
		v = 0xFFFFFFFF - v%32 // wraps
	case 4:
		v = hcHeapStart - 8 + v%16 // straddles the heap start
	}
	return uint64(v)
}

// FuzzHostCalls runs random sequences of host calls with random
// arguments through the forwarding module (testdata/hostcalls.wat) on a
// stream or the root context. A host call must never trap the guest
// (a host panic would surface as a trap) and must answer a known status;
// env.abort traps by design, after which the instance must be cleanly
// broken: every further call fails with ErrPluginFailed. Otherwise the
// stream must still finish normally.
func FuzzHostCalls(f *testing.F) {
	for i := range fuzzFuncs {
		// Each function once with in-scratch arguments, and once with
		// wrapping ones.
		f.Add([]byte{byte(i), 1, 0, 0, 0, 0, 1, 4, 0, 0, 0, 2, 3, 0, 0, 0})
		f.Add([]byte{byte(i), 3, 1, 0, 0, 0, 3, 2, 0, 0, 0, 3, 3, 0, 0, 0})
	}
	f.Add([]byte{4, 2, 2, 0, 0, 0, 13, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0})

	e, err := NewEngine(EngineOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close(context.Background()) })
	m, err := e.Compile(context.Background(), "hostcalls", hostCallsWasm)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		p, err := e.NewPlugin(ctx, m, PluginOptions{Name: "fuzz", VMID: "fuzz", PoolSize: 1, Callouts: &fakeCallouts{}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = p.Close(ctx)
			e.shared.mu.Lock() // keep inputs independent
			e.shared.init()
			e.shared.mu.Unlock()
		}()
		h := newFakeHost()
		h.bodies = [2][]byte{[]byte("request body"), []byte("response body")}
		s, err := p.NewHTTPStream(h)
		if err != nil {
			t.Fatal(err)
		}
		in := s.in
		broken := false
		next := func(n int) []byte {
			var b [8]byte
			k := copy(b[:n], data)
			data = data[k:]
			return b[:n]
		}
		for calls := 0; len(data) > 0 && calls < maxFuzzCalls; calls++ {
			op := next(1)[0]
			fn := fuzzFuncs[int(op&0x7f)%len(fuzzFuncs)]
			onStream := op&0x80 == 0
			args := make([]uint64, len(fn.Params))
			for i, pt := range fn.Params {
				b := next(5)
				args[i] = fuzzArg(b[0], binary.LittleEndian.Uint32(b[1:]), pt)
			}
			if fn.Name == abi.FuncSetTickPeriodMilliseconds && args[0] != 0 && args[0] < 50 {
				args[0] = 50 // keep tick storms out of the fuzzer
			}
			target := s
			if !onStream {
				target = nil
			}
			r, err := guestCall(in, target, "h."+fn.Name, args...)
			if broken {
				if !errors.Is(err, ErrPluginFailed) {
					t.Fatalf("%s%v on a broken instance: %v, want ErrPluginFailed", fn.Name, args, err)
				}
				continue
			}
			if err != nil {
				if fn.Name == abi.FuncAbort && errors.Is(err, ErrPluginFailed) && in.broken.Load() {
					broken = true
					continue
				}
				t.Fatalf("%s%v trapped: %v", fn.Name, args, err)
			}
			if len(fn.Results) == 1 && fn.Name != abi.FuncPthreadEqual {
				if st := abi.Status(uint32(r)); st > abi.StatusUnimplemented {
					t.Fatalf("%s%v = unknown status %d", fn.Name, args, st)
				}
			}
		}
		if broken {
			if _, err := s.OnRequestHeaders(4, false); !errors.Is(err, ErrPluginFailed) {
				t.Fatalf("stream on the broken instance: %v, want ErrPluginFailed", err)
			}
			_ = s.Done()
			return
		}
		if r, err := guestCall(in, s, "h."+abi.FuncGetCurrentTimeNanoseconds, hcScratch); err != nil || r != 0 {
			t.Fatalf("instance unusable after the sequence: %d, %v", r, err)
		}
		if err := s.OnLog(); err != nil {
			t.Fatal(err)
		}
		if err := s.Done(); err != nil {
			t.Fatal(err)
		}
		if p.Traps.Load() != 0 {
			t.Fatalf("traps = %d", p.Traps.Load())
		}
	})
}
