package hostcall

import (
	"testing"

	"github.com/weirproxy/weir/abi"
)

func TestAllocateAndTake(t *testing.T) {
	tests := []struct {
		name      string
		alloc     uint32 // bytes to allocate first (0: none)
		ptrOffset uint32 // added to the allocated pointer
		usePtr    bool   // pass the allocated pointer (else ptr 0)
		size      uint32
		wantLen   int
		wantSt    abi.Status
	}{
		{name: "empty result", size: 0, wantSt: abi.StatusOK},
		{name: "null pointer with size", size: 3, wantSt: abi.StatusInvalidMemoryAccess},
		{name: "exact", alloc: 8, usePtr: true, size: 8, wantLen: 8, wantSt: abi.StatusOK},
		{name: "shorter than allocated", alloc: 8, usePtr: true, size: 5, wantLen: 5, wantSt: abi.StatusOK},
		{name: "longer than allocated", alloc: 8, usePtr: true, size: 9, wantSt: abi.StatusInvalidMemoryAccess},
		{name: "pointer not handed out", alloc: 8, usePtr: true, ptrOffset: 1, size: 1, wantSt: abi.StatusInvalidMemoryAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p uint32
			if tt.alloc > 0 {
				p = allocate(tt.alloc)
				if p == 0 {
					t.Fatal("allocate returned 0")
				}
				if len(pending) != 1 {
					t.Fatalf("pending has %d entries, want 1", len(pending))
				}
			}
			if !tt.usePtr {
				p = 0
			}
			b, st := take(p+tt.ptrOffset, tt.size)
			if st != tt.wantSt || len(b) != tt.wantLen {
				t.Errorf("take = (%d bytes, %v), want (%d bytes, %v)", len(b), st, tt.wantLen, tt.wantSt)
			}
			if cap(b) != len(b) {
				t.Errorf("cap %d != len %d: caller could write past the result", cap(b), len(b))
			}
			if len(pending) != 0 {
				t.Errorf("pending has %d entries after take, want 0", len(pending))
			}
		})
	}
}

func TestAllocateZeroNeverFails(t *testing.T) {
	if p := allocate(0); p == 0 {
		t.Fatal("allocate(0) = 0 (failure)")
	}
	clear(pending)
}

func TestResultDropsAllocationsOnError(t *testing.T) {
	p := allocate(4)
	b, st := result(uint32(abi.StatusNotFound), p, 4)
	if st != abi.StatusNotFound || b != nil {
		t.Errorf("result = (%v, %v), want (nil, NOT_FOUND)", b, st)
	}
	if len(pending) != 0 {
		t.Errorf("pending has %d entries after a failed call", len(pending))
	}
	p = allocate(4)
	copy(pendingBuf(t, p), "abcd")
	b, st = result(0, p, 4)
	if st != abi.StatusOK || string(b) != "abcd" {
		t.Errorf("result = (%q, %v), want (abcd, OK)", b, st)
	}
}

func pendingBuf(t *testing.T, p uint32) []byte {
	t.Helper()
	b, ok := pending[p]
	if !ok {
		t.Fatalf("no pending allocation at %#x", p)
	}
	return b
}
