package wasm

import (
	"sync"

	"github.com/weirproxy/weir/abi"
)

// sharedState is the engine-wide shared data (key/value with CAS) and the
// shared queues, both keyed by VM ID as in Envoy.
type sharedState struct {
	mu      sync.Mutex
	cas     uint32
	data    map[string]map[string]sharedEntry // vm_id → key → entry
	queues  map[uint32]*sharedQueue
	byName  map[queueKey]uint32
	nextQID uint32
}

type sharedEntry struct {
	value []byte
	cas   uint32
}

type queueKey struct{ vmID, name string }

type sharedQueue struct {
	items [][]byte
	// owner receives proxy_on_queue_ready; the latest registration wins.
	owner *instance
}

// maxQueueItems bounds one shared queue; enqueue beyond it answers
// INTERNAL_FAILURE rather than growing without limit.
const maxQueueItems = 10000

func (s *sharedState) init() {
	s.data = make(map[string]map[string]sharedEntry)
	s.queues = make(map[uint32]*sharedQueue)
	s.byName = make(map[queueKey]uint32)
}

func (s *sharedState) get(vmID string, key []byte) ([]byte, uint32, abi.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[vmID][string(key)]
	if !ok {
		return nil, 0, abi.StatusNotFound
	}
	return e.value, e.cas, abi.StatusOK
}

func (s *sharedState) set(vmID string, key, value []byte, cas uint32) abi.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.data[vmID]
	if m == nil {
		m = make(map[string]sharedEntry)
		s.data[vmID] = m
	}
	if cas != 0 {
		if cur, ok := m[string(key)]; ok && cur.cas != cas {
			return abi.StatusCASMismatch
		}
	}
	s.cas++
	if s.cas == 0 {
		s.cas = 1
	}
	m[string(key)] = sharedEntry{value: append([]byte(nil), value...), cas: s.cas}
	return abi.StatusOK
}

func (s *sharedState) register(vmID, name string, owner *instance) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := queueKey{vmID, name}
	if id, ok := s.byName[k]; ok {
		s.queues[id].owner = owner
		return id
	}
	s.nextQID++
	id := s.nextQID
	s.byName[k] = id
	s.queues[id] = &sharedQueue{owner: owner}
	return id
}

func (s *sharedState) resolve(vmID, name string) (uint32, abi.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[queueKey{vmID, name}]
	if !ok {
		return 0, abi.StatusNotFound
	}
	return id, abi.StatusOK
}

// enqueue appends value and returns the instance to notify (may be nil).
func (s *sharedState) enqueue(id uint32, value []byte) (*instance, abi.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[id]
	if !ok {
		return nil, abi.StatusNotFound
	}
	if len(q.items) >= maxQueueItems {
		return nil, abi.StatusInternalFailure
	}
	q.items = append(q.items, append([]byte(nil), value...))
	return q.owner, abi.StatusOK
}

func (s *sharedState) dequeue(id uint32) ([]byte, abi.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[id]
	if !ok {
		return nil, abi.StatusNotFound
	}
	if len(q.items) == 0 {
		return nil, abi.StatusEmpty
	}
	v := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return v, abi.StatusOK
}

// forget drops queue ownership held by a dead instance.
func (s *sharedState) forget(in *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		if q.owner == in {
			q.owner = nil
		}
	}
}
