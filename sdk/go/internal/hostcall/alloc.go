package hostcall

import (
	"unsafe"

	"github.com/weirproxy/weir/abi"
)

// Memory handed to the host.
//
// Every blob a host call returns is written by the host into memory it
// obtains by calling proxy_on_memory_allocate re-entrantly, during the host
// call. That memory is a Go slice: Go's GC does not move objects, but it
// frees what nothing references, and the only reference the guest has to
// the slice between the allocation and the moment the host call returns is
// this map. So pending keeps every allocation reachable until take hands it
// to the caller as an ordinary slice (which the GC then tracks normally).
// Allocations happen only inside host calls and the module is single
// threaded, so after a call has been consumed anything left in pending
// belongs to a host that allocated and then failed: take drops it, which
// bounds pending to the allocations of one host call.
//
// The key is the wasm32 address. Native builds compile this file only for
// its unit tests (the emulator never allocates this way).
var pending = make(map[uint32][]byte)

// allocate is proxy_on_memory_allocate (exported in wasip1.go).
func allocate(size uint32) uint32 {
	if size == 0 {
		size = 1 // the host never asks for 0; never return 0 (failure) for it
	}
	buf := make([]byte, size)
	p := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	pending[p] = buf
	return p
}

// take returns the allocation the host wrote (ptr, size) into, or nil for
// the empty result (0, 0). A pointer the SDK did not hand out, or a size
// beyond the allocation, is INVALID_MEMORY_ACCESS.
func take(ptr, size uint32) ([]byte, abi.Status) {
	defer clear(pending)
	if ptr == 0 {
		if size == 0 {
			return nil, abi.StatusOK
		}
		return nil, abi.StatusInvalidMemoryAccess
	}
	buf, ok := pending[ptr]
	if !ok || uint64(size) > uint64(len(buf)) {
		return nil, abi.StatusInvalidMemoryAccess
	}
	return buf[:size:size], abi.StatusOK
}

// result takes the output of a host call that returned (ptr, size).
func result(st uint32, ptr, size uint32) ([]byte, abi.Status) {
	if abi.Status(st) != abi.StatusOK {
		clear(pending)
		return nil, abi.Status(st)
	}
	return take(ptr, size)
}
