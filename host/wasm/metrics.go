package wasm

import (
	"sync"

	"github.com/weirproxy/weir/abi"
)

// Metric is a snapshot of one metric a plugin defined with
// proxy_define_metric.
type Metric struct {
	Name string
	Type abi.MetricType
	// Value is the counter or gauge value; for a histogram the sum of the
	// recorded values.
	Value int64
	// Count is the number of histogram records (0 for other types).
	Count uint64
}

// metrics stores a plugin's metrics; ids are shared by its instances
// (every instance defines the same names at start).
type metrics struct {
	mu     sync.Mutex
	list   []Metric
	byName map[string]uint32
}

// maxMetrics bounds the metrics one plugin can define.
const maxMetrics = 10000

func (m *metrics) define(t abi.MetricType, name string) (uint32, abi.Status) {
	if !t.Valid() {
		return 0, abi.StatusBadArgument
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byName[name]; ok {
		if m.list[id-1].Type != t {
			return 0, abi.StatusBadArgument
		}
		return id, abi.StatusOK
	}
	if len(m.list) >= maxMetrics {
		return 0, abi.StatusInternalFailure
	}
	if m.byName == nil {
		m.byName = make(map[string]uint32)
	}
	m.list = append(m.list, Metric{Name: name, Type: t})
	id := uint32(len(m.list))
	m.byName[name] = id
	return id, abi.StatusOK
}

func (m *metrics) update(id uint32, v int64, record bool) abi.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || int(id) > len(m.list) {
		return abi.StatusNotFound
	}
	e := &m.list[id-1]
	switch e.Type {
	case abi.MetricCounter:
		if v < 0 || (!record && v == 0) {
			return abi.StatusBadArgument
		}
		e.Value += v
	case abi.MetricGauge:
		if record {
			e.Value = v
		} else {
			e.Value += v
		}
	case abi.MetricHistogram:
		if !record {
			return abi.StatusBadArgument
		}
		e.Value += v
		e.Count++
	}
	return abi.StatusOK
}

func (m *metrics) get(id uint32) (int64, abi.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || int(id) > len(m.list) {
		return 0, abi.StatusNotFound
	}
	e := m.list[id-1]
	if e.Type == abi.MetricHistogram {
		return 0, abi.StatusBadArgument
	}
	return e.Value, abi.StatusOK
}

// Metrics returns a snapshot of the plugin's metrics in definition order.
func (p *Plugin) Metrics() []Metric {
	p.metrics.mu.Lock()
	defer p.metrics.mu.Unlock()
	return append([]Metric(nil), p.metrics.list...)
}
