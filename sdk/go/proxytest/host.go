//go:build !wasip1

package proxytest

import (
	"errors"
	"slices"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/sdk/go/internal/hostcall"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// The host side: emuHost implements hostcall.Host. Every method locks
// e.mu; the Call* drivers never hold it while the plugin runs. Returned
// slices are fresh copies (the SDK may alias them).

var _ hostcall.Host = (*emuHost)(nil)

// emuHost is the HostEmulator seen as the host, keeping the host methods out
// of HostEmulator's API.
type emuHost HostEmulator

// Log implements hostcall.Host.
func (e *emuHost) Log(level abi.LogLevel, msg string) abi.Status {
	if !level.Valid() {
		return abi.StatusBadArgument
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs[level] = append(e.logs[level], msg)
	return abi.StatusOK
}

// GetLogLevel implements hostcall.Host.
func (e *emuHost) GetLogLevel() (abi.LogLevel, abi.Status) {
	return e.opts.LogLevel, abi.StatusOK
}

// GetCurrentTimeNanoseconds implements hostcall.Host; the emulator's clock
// is frozen at 0 so tests are deterministic.
func (e *emuHost) GetCurrentTimeNanoseconds() (uint64, abi.Status) { return 0, abi.StatusOK }

// SetTickPeriodMilliseconds implements hostcall.Host.
func (e *emuHost) SetTickPeriodMilliseconds(periodMs uint32) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tickPeriod = periodMs
	return abi.StatusOK
}

// SetEffectiveContext implements hostcall.Host.
func (e *emuHost) SetEffectiveContext(contextID uint32) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.streams[contextID]; (!ok || s.done) && contextID != RootContextID {
		return abi.StatusBadArgument
	}
	e.effective = contextID
	return abi.StatusOK
}

// Done implements hostcall.Host.
func (e *emuHost) Done() abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pluginDone {
		return abi.StatusNotFound
	}
	e.pluginDone = true
	return abi.StatusOK
}

// buffer returns a pointer to the buffer bt in the current context, or nil.
// Configuration buffers are read-only copies.
func (e *emuHost) buffer(bt abi.BufferType) (*[]byte, bool) {
	s := e.streams[e.effective]
	switch bt {
	case abi.BufferHTTPRequestBody:
		if s != nil {
			return &s.reqBody, true
		}
	case abi.BufferHTTPResponseBody:
		if s != nil {
			return &s.respBody, true
		}
	case abi.BufferHTTPCallResponseBody:
		if e.callResp != nil {
			return &e.callResp.body, false
		}
	case abi.BufferPluginConfiguration:
		return &e.opts.PluginConfig, false
	case abi.BufferVMConfiguration:
		return &e.opts.VMConfig, false
	case abi.BufferForeignFunctionArguments:
		if e.foreignArg != nil {
			return &e.foreignArg, false
		}
	}
	return nil, false
}

// GetBufferBytes implements hostcall.Host.
func (e *emuHost) GetBufferBytes(bt abi.BufferType, start, maxSize uint32) ([]byte, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !bt.Valid() {
		return nil, abi.StatusBadArgument
	}
	b, _ := e.buffer(bt)
	if b == nil {
		return nil, abi.StatusNotFound
	}
	buf := *b
	if uint64(start) > uint64(len(buf)) {
		return nil, abi.StatusBadArgument
	}
	end := min(uint64(start)+uint64(maxSize), uint64(len(buf)))
	if end == uint64(start) {
		return nil, abi.StatusOK
	}
	return slices.Clone(buf[start:end]), abi.StatusOK
}

// SetBufferBytes implements hostcall.Host: replaces size bytes at start
// (clamped to the buffer), so (0,0) prepends and start>=len appends.
func (e *emuHost) SetBufferBytes(bt abi.BufferType, start, size uint32, data []byte) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !bt.Valid() {
		return abi.StatusBadArgument
	}
	b, writable := e.buffer(bt)
	if b == nil {
		return abi.StatusNotFound
	}
	if !writable {
		return abi.StatusBadArgument
	}
	buf := *b
	s := min(uint64(start), uint64(len(buf)))
	end := min(s+uint64(size), uint64(len(buf)))
	out := make([]byte, 0, len(buf)-int(end-s)+len(data))
	out = append(out, buf[:s]...)
	out = append(out, data...)
	out = append(out, buf[end:]...)
	*b = out
	return abi.StatusOK
}

// GetBufferStatus implements hostcall.Host.
func (e *emuHost) GetBufferStatus(bt abi.BufferType) (uint32, uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !bt.Valid() {
		return 0, 0, abi.StatusBadArgument
	}
	b, _ := e.buffer(bt)
	if b == nil {
		return 0, 0, abi.StatusNotFound
	}
	return uint32(len(*b)), 0, abi.StatusOK
}

// headerMap returns a pointer to map mt in the current context, or nil.
func (e *emuHost) headerMap(mt abi.MapType) (*[][2]string, bool) {
	switch mt {
	case abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers,
		abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers:
		if s := e.streams[e.effective]; s != nil {
			return &s.maps[mt], true
		}
	case abi.MapHTTPCallResponseHeaders:
		if e.callResp != nil {
			return &e.callResp.headers, false
		}
	case abi.MapHTTPCallResponseTrailers:
		if e.callResp != nil {
			return &e.callResp.trailers, false
		}
	}
	return nil, false
}

func (e *emuHost) mapFor(mt abi.MapType, write bool) (*[][2]string, abi.Status) {
	if !mt.Valid() {
		return nil, abi.StatusBadArgument
	}
	m, writable := e.headerMap(mt)
	if m == nil {
		return nil, abi.StatusNotFound
	}
	if write && !writable {
		return nil, abi.StatusBadArgument
	}
	return m, abi.StatusOK
}

// GetHeaderMapPairs implements hostcall.Host.
func (e *emuHost) GetHeaderMapPairs(mt abi.MapType) ([]byte, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, false)
	if st != abi.StatusOK {
		return nil, st
	}
	if len(*m) == 0 {
		return nil, abi.StatusOK
	}
	return abi.EncodePairs(nil, *m), abi.StatusOK
}

// SetHeaderMapPairs implements hostcall.Host.
func (e *emuHost) SetHeaderMapPairs(mt abi.MapType, pairs []byte) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, true)
	if st != abi.StatusOK {
		return st
	}
	p, err := abi.ParsePairs(pairs)
	if err != nil {
		return abi.StatusBadArgument
	}
	*m = p
	return abi.StatusOK
}

// GetHeaderMapValue implements hostcall.Host: first value, NOT_FOUND if
// absent.
func (e *emuHost) GetHeaderMapValue(mt abi.MapType, key string) ([]byte, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, false)
	if st != abi.StatusOK {
		return nil, st
	}
	i := indexFold(*m, key)
	if i < 0 {
		return nil, abi.StatusNotFound
	}
	if (*m)[i][1] == "" {
		return nil, abi.StatusOK
	}
	return []byte((*m)[i][1]), abi.StatusOK
}

// AddHeaderMapValue implements hostcall.Host.
func (e *emuHost) AddHeaderMapValue(mt abi.MapType, key, value string) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, true)
	if st != abi.StatusOK {
		return st
	}
	*m = append(*m, [2]string{key, value})
	return abi.StatusOK
}

// ReplaceHeaderMapValue implements hostcall.Host: the first value is
// replaced and the others removed; absent keys are added.
func (e *emuHost) ReplaceHeaderMapValue(mt abi.MapType, key, value string) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, true)
	if st != abi.StatusOK {
		return st
	}
	i := indexFold(*m, key)
	if i < 0 {
		*m = append(*m, [2]string{key, value})
		return abi.StatusOK
	}
	(*m)[i][1] = value
	rest := slices.DeleteFunc((*m)[i+1:], func(p [2]string) bool { return indexFold([][2]string{p}, key) == 0 })
	*m = (*m)[:i+1+len(rest)]
	return abi.StatusOK
}

// RemoveHeaderMapValue implements hostcall.Host.
func (e *emuHost) RemoveHeaderMapValue(mt abi.MapType, key string) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, true)
	if st != abi.StatusOK {
		return st
	}
	*m = slices.DeleteFunc(*m, func(p [2]string) bool { return indexFold([][2]string{p}, key) == 0 })
	return abi.StatusOK
}

// GetHeaderMapSize implements hostcall.Host (serialized size, like Envoy).
func (e *emuHost) GetHeaderMapSize(mt abi.MapType) (uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, st := e.mapFor(mt, false)
	if st != abi.StatusOK {
		return 0, st
	}
	return uint32(abi.PairsSize(*m)), abi.StatusOK
}

// ContinueStream implements hostcall.Host.
func (e *emuHost) ContinueStream(st abi.StreamType) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.streams[e.effective]
	if s == nil {
		return abi.StatusNotFound
	}
	switch st {
	case abi.StreamHTTPRequest:
		s.reqResumed++
	case abi.StreamHTTPResponse:
		s.respResumed++
	default:
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

// CloseStream implements hostcall.Host.
func (e *emuHost) CloseStream(st abi.StreamType) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.streams[e.effective]
	if s == nil {
		return abi.StatusNotFound
	}
	if st != abi.StreamHTTPRequest && st != abi.StreamHTTPResponse {
		return abi.StatusBadArgument
	}
	s.closed = true
	return abi.StatusOK
}

// SendLocalResponse implements hostcall.Host.
func (e *emuHost) SendLocalResponse(statusCode uint32, details string, body, headers []byte, grpcStatus int32) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.streams[e.effective]
	if s == nil {
		return abi.StatusNotFound
	}
	if statusCode < 100 || statusCode > 599 {
		return abi.StatusBadArgument
	}
	hdrs, err := abi.ParsePairs(headers)
	if err != nil {
		return abi.StatusBadArgument
	}
	s.local = &LocalResponse{
		StatusCode: statusCode, Details: details, Headers: hdrs,
		Body: slices.Clone(body), GRPCStatus: grpcStatus,
	}
	return abi.StatusOK
}

// HTTPCall implements hostcall.Host. Like Envoy it requires :method, :path
// and :authority.
func (e *emuHost) HTTPCall(upstream string, headers, body, trailers []byte, timeoutMs uint32) (uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	hdrs, err := abi.ParsePairs(headers)
	if err != nil {
		return 0, abi.StatusBadArgument
	}
	trl, err := abi.ParsePairs(trailers)
	if err != nil {
		return 0, abi.StatusBadArgument
	}
	if upstream == "" {
		return 0, abi.StatusBadArgument
	}
	for _, k := range []string{":method", ":path", ":authority"} {
		if indexFold(hdrs, k) < 0 {
			return 0, abi.StatusBadArgument
		}
	}
	t := e.nextToken
	e.nextToken++
	e.calls[t] = &HttpCall{Token: t, Upstream: upstream, Headers: hdrs, Body: slices.Clone(body), Trailers: trl, TimeoutMs: timeoutMs}
	return t, abi.StatusOK
}

// GetSharedData implements hostcall.Host.
func (e *emuHost) GetSharedData(key string) ([]byte, uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.sharedData[key]
	if !ok {
		return nil, 0, abi.StatusNotFound
	}
	return slices.Clone(d.value), d.cas, abi.StatusOK
}

// SetSharedData implements hostcall.Host.
func (e *emuHost) SetSharedData(key string, value []byte, cas uint32) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.sharedData[key]
	if !ok {
		d = &shared{}
		e.sharedData[key] = d
	}
	if cas != 0 && cas != d.cas {
		return abi.StatusCASMismatch
	}
	d.value = slices.Clone(value)
	d.cas++
	if d.cas == 0 {
		d.cas = 1
	}
	return abi.StatusOK
}

// RegisterSharedQueue implements hostcall.Host.
func (e *emuHost) RegisterSharedQueue(name string) (uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.queueIDs[name]; ok {
		return id, abi.StatusOK
	}
	id := uint32(len(e.queueIDs) + 1)
	e.queueIDs[name] = id
	e.queues[id] = nil
	return id, abi.StatusOK
}

// ResolveSharedQueue implements hostcall.Host (one VM: vmID must be "").
func (e *emuHost) ResolveSharedQueue(vmID, name string) (uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.queueIDs[name]; ok && vmID == "" {
		return id, abi.StatusOK
	}
	return 0, abi.StatusNotFound
}

// EnqueueSharedQueue implements hostcall.Host.
func (e *emuHost) EnqueueSharedQueue(queueID uint32, value []byte) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[queueID]
	if !ok {
		return abi.StatusNotFound
	}
	e.queues[queueID] = append(q, slices.Clone(value))
	return abi.StatusOK
}

// DequeueSharedQueue implements hostcall.Host.
func (e *emuHost) DequeueSharedQueue(queueID uint32) ([]byte, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[queueID]
	if !ok {
		return nil, abi.StatusNotFound
	}
	if len(q) == 0 {
		return nil, abi.StatusEmpty
	}
	e.queues[queueID] = q[1:]
	return q[0], abi.StatusOK
}

// DefineMetric implements hostcall.Host. Redefining a name returns its id
// if the type matches.
func (e *emuHost) DefineMetric(mt abi.MetricType, name string) (uint32, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !mt.Valid() || name == "" {
		return 0, abi.StatusBadArgument
	}
	if id, ok := e.metricNames[name]; ok {
		if e.metrics[id].typ != mt {
			return 0, abi.StatusBadArgument
		}
		return id, abi.StatusOK
	}
	id := uint32(len(e.metrics) + 1)
	e.metrics[id] = &metric{typ: mt, name: name}
	e.metricNames[name] = id
	return id, abi.StatusOK
}

// IncrementMetric implements hostcall.Host. Like Envoy, a counter only
// goes up.
func (e *emuHost) IncrementMetric(metricID uint32, delta int64) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.metrics[metricID]
	if !ok {
		return abi.StatusNotFound
	}
	switch m.typ {
	case abi.MetricCounter:
		if delta <= 0 {
			return abi.StatusBadArgument
		}
		m.value += uint64(delta)
	case abi.MetricGauge:
		m.value = uint64(int64(m.value) + delta)
	default:
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

// RecordMetric implements hostcall.Host: counter adds, gauge sets,
// histogram records.
func (e *emuHost) RecordMetric(metricID uint32, value uint64) abi.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.metrics[metricID]
	if !ok {
		return abi.StatusNotFound
	}
	switch m.typ {
	case abi.MetricCounter:
		m.value += value
	case abi.MetricGauge:
		m.value = value
	case abi.MetricHistogram:
		m.values = append(m.values, value)
	}
	return abi.StatusOK
}

// GetMetric implements hostcall.Host.
func (e *emuHost) GetMetric(metricID uint32) (uint64, abi.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.metrics[metricID]
	if !ok {
		return 0, abi.StatusNotFound
	}
	if m.typ == abi.MetricHistogram {
		return 0, abi.StatusBadArgument
	}
	return m.value, abi.StatusOK
}

// GetProperty implements hostcall.Host.
func (e *emuHost) GetProperty(path []byte) ([]byte, abi.Status) {
	k, st := propKey(path)
	if st != abi.StatusOK {
		return nil, st
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.properties[k]
	if !ok {
		return nil, abi.StatusNotFound
	}
	return slices.Clone(v), abi.StatusOK
}

// SetProperty implements hostcall.Host.
func (e *emuHost) SetProperty(path, value []byte) abi.Status {
	k, st := propKey(path)
	if st != abi.StatusOK {
		return st
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.properties[k] = slices.Clone(value)
	return abi.StatusOK
}

// CallForeignFunction implements hostcall.Host.
func (e *emuHost) CallForeignFunction(name string, args []byte) ([]byte, abi.Status) {
	e.mu.Lock()
	fn, ok := e.foreign[name]
	e.mu.Unlock()
	if !ok {
		return nil, abi.StatusNotFound
	}
	out, err := fn(slices.Clone(args))
	if err != nil {
		var se proxywasm.StatusError
		if errors.As(err, &se) {
			return nil, se.Status()
		}
		return nil, abi.StatusInternalFailure
	}
	return slices.Clone(out), abi.StatusOK
}
