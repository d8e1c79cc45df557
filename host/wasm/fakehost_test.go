package wasm

import (
	"strings"
	"sync"

	"github.com/weirproxy/weir/abi"
)

// fakeHost is an in-memory StreamHost.
type fakeHost struct {
	mu        sync.Mutex
	maps      [4][][2]string
	bodies    [2][]byte
	props     map[string][]byte
	local     []localResponse
	continued []abi.StreamType
	closed    []abi.StreamType
}

func newFakeHost() *fakeHost {
	return &fakeHost{maps: [4][][2]string{
		{{":method", "GET"}, {":path", "/"}, {":authority", "example.com"}, {":scheme", "http"}},
		nil,
		{{":status", "200"}},
		nil,
	}, props: map[string][]byte{}}
}

func (h *fakeHost) get(m abi.MapType, k string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.maps[m] {
		if p[0] == k {
			return p[1], true
		}
	}
	return "", false
}

func (h *fakeHost) HeaderPairs(m abi.MapType) ([][2]string, abi.Status) {
	if m > 3 {
		return nil, abi.StatusNotFound
	}
	return h.maps[m], abi.StatusOK
}

func (h *fakeHost) HeaderValue(m abi.MapType, key string) (string, abi.Status) {
	if m > 3 {
		return "", abi.StatusNotFound
	}
	for _, p := range h.maps[m] {
		if p[0] == key {
			return p[1], abi.StatusOK
		}
	}
	return "", abi.StatusNotFound
}

func (h *fakeHost) AddHeader(m abi.MapType, key, value string) abi.Status {
	h.maps[m] = append(h.maps[m], [2]string{strings.ToLower(key), value})
	return abi.StatusOK
}

func (h *fakeHost) ReplaceHeader(m abi.MapType, key, value string) abi.Status {
	h.RemoveHeader(m, key)
	return h.AddHeader(m, key, value)
}

func (h *fakeHost) RemoveHeader(m abi.MapType, key string) abi.Status {
	out := h.maps[m][:0]
	for _, p := range h.maps[m] {
		if p[0] != key {
			out = append(out, p)
		}
	}
	h.maps[m] = out
	return abi.StatusOK
}

func (h *fakeHost) SetHeaderPairs(m abi.MapType, pairs [][2]string) abi.Status {
	h.maps[m] = pairs
	return abi.StatusOK
}

func (h *fakeHost) BufferBytes(b abi.BufferType, start, length int) ([]byte, abi.Status) {
	body := h.bodies[b]
	start = min(start, len(body))
	return body[start:min(len(body), start+length)], abi.StatusOK
}

func (h *fakeHost) BufferLen(b abi.BufferType) (int, abi.Status) {
	return len(h.bodies[b]), abi.StatusOK
}

func (h *fakeHost) ReplaceBufferBytes(b abi.BufferType, start, length int, data []byte) abi.Status {
	body := h.bodies[b]
	start = min(start, len(body))
	end := min(len(body), start+length)
	h.bodies[b] = append(append(append([]byte(nil), body[:start]...), data...), body[end:]...)
	return abi.StatusOK
}

func (h *fakeHost) Property(path []string) ([]byte, abi.Status) {
	v, ok := h.props[strings.Join(path, ".")]
	if !ok {
		return nil, abi.StatusNotFound
	}
	return v, abi.StatusOK
}

func (h *fakeHost) SetProperty(path []string, value []byte) abi.Status {
	h.props[strings.Join(path, ".")] = value
	return abi.StatusOK
}

func (h *fakeHost) SendLocalResponse(status int, details string, body []byte, headers [][2]string, grpcStatus int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.local = append(h.local, localResponse{status: status, details: details, body: body, headers: headers, grpcStatus: grpcStatus})
}

func (h *fakeHost) ContinueStream(t abi.StreamType) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.continued = append(h.continued, t)
}

func (h *fakeHost) CloseStream(t abi.StreamType) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = append(h.closed, t)
}
