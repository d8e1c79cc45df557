package proxywasm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/sdk/go/internal/hostcall"
)

// maxBuf asks the host for "everything" when reading a buffer; hosts clamp.
const maxBuf = math.MaxInt32

// bstr views b as a string without copying. Safe because every slice a
// Host returns belongs to the caller and nothing else writes it.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func h() hostcall.Host { return hostcall.Current() }

// ---- Logging ----

func logMsg(level LogLevel, msg string) { h().Log(level, msg) }

// LogTrace logs msg at trace level.
func LogTrace(msg string) { logMsg(LogLevelTrace, msg) }

// LogTracef logs a formatted message at trace level.
func LogTracef(format string, args ...any) { logMsg(LogLevelTrace, fmt.Sprintf(format, args...)) }

// LogDebug logs msg at debug level.
func LogDebug(msg string) { logMsg(LogLevelDebug, msg) }

// LogDebugf logs a formatted message at debug level.
func LogDebugf(format string, args ...any) { logMsg(LogLevelDebug, fmt.Sprintf(format, args...)) }

// LogInfo logs msg at info level.
func LogInfo(msg string) { logMsg(LogLevelInfo, msg) }

// LogInfof logs a formatted message at info level.
func LogInfof(format string, args ...any) { logMsg(LogLevelInfo, fmt.Sprintf(format, args...)) }

// LogWarn logs msg at warn level.
func LogWarn(msg string) { logMsg(LogLevelWarn, msg) }

// LogWarnf logs a formatted message at warn level.
func LogWarnf(format string, args ...any) { logMsg(LogLevelWarn, fmt.Sprintf(format, args...)) }

// LogError logs msg at error level.
func LogError(msg string) { logMsg(LogLevelError, msg) }

// LogErrorf logs a formatted message at error level.
func LogErrorf(format string, args ...any) { logMsg(LogLevelError, fmt.Sprintf(format, args...)) }

// LogCritical logs msg at critical level.
func LogCritical(msg string) { logMsg(LogLevelCritical, msg) }

// LogCriticalf logs a formatted message at critical level.
func LogCriticalf(format string, args ...any) {
	logMsg(LogLevelCritical, fmt.Sprintf(format, args...))
}

// GetLogLevel returns the host's current log level (ABI 0.2.1), so plugins
// can skip building messages the host would drop.
func GetLogLevel() (LogLevel, error) {
	l, st := h().GetLogLevel()
	return l, statusErr(st)
}

// ---- Contexts, timers, time ----

// SetTickPeriodMilliSeconds makes the host call OnTick of the current plugin
// context every period; 0 disables the timer.
func SetTickPeriodMilliSeconds(period uint32) error {
	return statusErr(h().SetTickPeriodMilliseconds(period))
}

// SetEffectiveContext makes later host calls act on contextID (an HTTP
// context), e.g. from a tick or queue callback. The SDK does it already for
// DispatchHttpCall callbacks.
func SetEffectiveContext(contextID uint32) error {
	return statusErr(h().SetEffectiveContext(contextID))
}

// PluginDone finishes a plugin context whose OnPluginDone returned false.
func PluginDone() error { return statusErr(h().Done()) }

// GetCurrentTimeNanoseconds returns the host's clock in Unix nanoseconds
// (hosts may freeze it during a callback).
func GetCurrentTimeNanoseconds() (int64, error) {
	t, st := h().GetCurrentTimeNanoseconds()
	return int64(t), statusErr(st)
}

// ---- Configuration ----

// GetPluginConfiguration returns the plugin configuration (nil if empty).
func GetPluginConfiguration() ([]byte, error) {
	return getBuffer(abi.BufferPluginConfiguration, 0, maxBuf)
}

// GetVMConfiguration returns the VM configuration (nil if empty).
func GetVMConfiguration() ([]byte, error) {
	return getBuffer(abi.BufferVMConfiguration, 0, maxBuf)
}

// DecodeConfig reads the plugin configuration and decodes it as JSON into
// v (with encoding/json). An empty or absent configuration leaves v
// unchanged and returns nil, so defaults set in v survive.
func DecodeConfig(v any) error {
	b, err := GetPluginConfiguration()
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("proxywasm: read plugin configuration: %w", err)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("proxywasm: decode plugin configuration: %w", err)
	}
	return nil
}

// ---- Header maps ----

func getMap(mt abi.MapType) ([][2]string, error) {
	b, st := h().GetHeaderMapPairs(mt)
	if st != abi.StatusOK {
		return nil, StatusError(st)
	}
	var out [][2]string
	err := abi.DecodePairs(b, func(k, v []byte) bool {
		// k and v alias b, which belongs to us: no copies needed.
		out = append(out, [2]string{bstr(k), bstr(v)})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("proxywasm: %s from host: %w", mt, err)
	}
	return out, nil
}

func setMap(mt abi.MapType, pairs [][2]string) error {
	return statusErr(h().SetHeaderMapPairs(mt, abi.EncodePairs(nil, pairs)))
}

func getMapValue(mt abi.MapType, key string) (string, error) {
	b, st := h().GetHeaderMapValue(mt, key)
	if st != abi.StatusOK {
		return "", StatusError(st)
	}
	return bstr(b), nil
}

// GetHttpRequestHeaders returns all request headers, in order.
func GetHttpRequestHeaders() ([][2]string, error) { return getMap(abi.MapHTTPRequestHeaders) }

// ReplaceHttpRequestHeaders replaces all request headers.
func ReplaceHttpRequestHeaders(headers [][2]string) error {
	return setMap(abi.MapHTTPRequestHeaders, headers)
}

// GetHttpRequestHeader returns the first value of request header key;
// ErrNotFound if absent.
func GetHttpRequestHeader(key string) (string, error) {
	return getMapValue(abi.MapHTTPRequestHeaders, key)
}

// AddHttpRequestHeader appends a request header value.
func AddHttpRequestHeader(key, value string) error {
	return statusErr(h().AddHeaderMapValue(abi.MapHTTPRequestHeaders, key, value))
}

// ReplaceHttpRequestHeader sets request header key to value, adding it if
// absent.
func ReplaceHttpRequestHeader(key, value string) error {
	return statusErr(h().ReplaceHeaderMapValue(abi.MapHTTPRequestHeaders, key, value))
}

// RemoveHttpRequestHeader removes every value of request header key (no
// error if absent).
func RemoveHttpRequestHeader(key string) error {
	return statusErr(h().RemoveHeaderMapValue(abi.MapHTTPRequestHeaders, key))
}

// GetHttpResponseHeaders returns all response headers, in order.
func GetHttpResponseHeaders() ([][2]string, error) { return getMap(abi.MapHTTPResponseHeaders) }

// ReplaceHttpResponseHeaders replaces all response headers.
func ReplaceHttpResponseHeaders(headers [][2]string) error {
	return setMap(abi.MapHTTPResponseHeaders, headers)
}

// GetHttpResponseHeader returns the first value of response header key;
// ErrNotFound if absent.
func GetHttpResponseHeader(key string) (string, error) {
	return getMapValue(abi.MapHTTPResponseHeaders, key)
}

// AddHttpResponseHeader appends a response header value.
func AddHttpResponseHeader(key, value string) error {
	return statusErr(h().AddHeaderMapValue(abi.MapHTTPResponseHeaders, key, value))
}

// ReplaceHttpResponseHeader sets response header key to value, adding it
// if absent.
func ReplaceHttpResponseHeader(key, value string) error {
	return statusErr(h().ReplaceHeaderMapValue(abi.MapHTTPResponseHeaders, key, value))
}

// RemoveHttpResponseHeader removes every value of response header key.
func RemoveHttpResponseHeader(key string) error {
	return statusErr(h().RemoveHeaderMapValue(abi.MapHTTPResponseHeaders, key))
}

// GetHttpRequestTrailers returns all request trailers.
func GetHttpRequestTrailers() ([][2]string, error) { return getMap(abi.MapHTTPRequestTrailers) }

// ReplaceHttpRequestTrailers replaces all request trailers.
func ReplaceHttpRequestTrailers(trailers [][2]string) error {
	return setMap(abi.MapHTTPRequestTrailers, trailers)
}

// GetHttpRequestTrailer returns the first value of request trailer key.
func GetHttpRequestTrailer(key string) (string, error) {
	return getMapValue(abi.MapHTTPRequestTrailers, key)
}

// AddHttpRequestTrailer appends a request trailer value.
func AddHttpRequestTrailer(key, value string) error {
	return statusErr(h().AddHeaderMapValue(abi.MapHTTPRequestTrailers, key, value))
}

// ReplaceHttpRequestTrailer sets request trailer key to value.
func ReplaceHttpRequestTrailer(key, value string) error {
	return statusErr(h().ReplaceHeaderMapValue(abi.MapHTTPRequestTrailers, key, value))
}

// RemoveHttpRequestTrailer removes request trailer key.
func RemoveHttpRequestTrailer(key string) error {
	return statusErr(h().RemoveHeaderMapValue(abi.MapHTTPRequestTrailers, key))
}

// GetHttpResponseTrailers returns all response trailers.
func GetHttpResponseTrailers() ([][2]string, error) { return getMap(abi.MapHTTPResponseTrailers) }

// ReplaceHttpResponseTrailers replaces all response trailers.
func ReplaceHttpResponseTrailers(trailers [][2]string) error {
	return setMap(abi.MapHTTPResponseTrailers, trailers)
}

// GetHttpResponseTrailer returns the first value of response trailer key.
func GetHttpResponseTrailer(key string) (string, error) {
	return getMapValue(abi.MapHTTPResponseTrailers, key)
}

// AddHttpResponseTrailer appends a response trailer value.
func AddHttpResponseTrailer(key, value string) error {
	return statusErr(h().AddHeaderMapValue(abi.MapHTTPResponseTrailers, key, value))
}

// ReplaceHttpResponseTrailer sets response trailer key to value.
func ReplaceHttpResponseTrailer(key, value string) error {
	return statusErr(h().ReplaceHeaderMapValue(abi.MapHTTPResponseTrailers, key, value))
}

// RemoveHttpResponseTrailer removes response trailer key.
func RemoveHttpResponseTrailer(key string) error {
	return statusErr(h().RemoveHeaderMapValue(abi.MapHTTPResponseTrailers, key))
}

// ---- Bodies ----

func getBuffer(bt abi.BufferType, start, maxSize int) ([]byte, error) {
	if start < 0 || maxSize < 0 {
		return nil, ErrBadArgument
	}
	b, st := h().GetBufferBytes(bt, clampU32(start), clampU32(maxSize))
	if st != abi.StatusOK {
		return nil, StatusError(st)
	}
	return b, nil
}

func clampU32(n int) uint32 {
	if uint64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

// Buffer edits, with the SDK convention hosts implement: replace (0, all),
// prepend (0, 0), append (all, 0).
func replaceBuffer(bt abi.BufferType, data []byte) error {
	return statusErr(h().SetBufferBytes(bt, 0, maxBuf, data))
}

func appendBuffer(bt abi.BufferType, data []byte) error {
	return statusErr(h().SetBufferBytes(bt, maxBuf, 0, data))
}

func prependBuffer(bt abi.BufferType, data []byte) error {
	return statusErr(h().SetBufferBytes(bt, 0, 0, data))
}

// GetHttpRequestBody returns up to maxSize bytes of the buffered request
// body from offset start.
func GetHttpRequestBody(start, maxSize int) ([]byte, error) {
	return getBuffer(abi.BufferHTTPRequestBody, start, maxSize)
}

// ReplaceHttpRequestBody replaces the buffered request body.
func ReplaceHttpRequestBody(body []byte) error { return replaceBuffer(abi.BufferHTTPRequestBody, body) }

// AppendHttpRequestBody appends to the buffered request body.
func AppendHttpRequestBody(data []byte) error { return appendBuffer(abi.BufferHTTPRequestBody, data) }

// PrependHttpRequestBody prepends to the buffered request body.
func PrependHttpRequestBody(data []byte) error { return prependBuffer(abi.BufferHTTPRequestBody, data) }

// GetHttpResponseBody returns up to maxSize bytes of the buffered response
// body from offset start.
func GetHttpResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(abi.BufferHTTPResponseBody, start, maxSize)
}

// ReplaceHttpResponseBody replaces the buffered response body.
func ReplaceHttpResponseBody(body []byte) error {
	return replaceBuffer(abi.BufferHTTPResponseBody, body)
}

// AppendHttpResponseBody appends to the buffered response body.
func AppendHttpResponseBody(data []byte) error { return appendBuffer(abi.BufferHTTPResponseBody, data) }

// PrependHttpResponseBody prepends to the buffered response body.
func PrependHttpResponseBody(data []byte) error {
	return prependBuffer(abi.BufferHTTPResponseBody, data)
}

// ---- Stream control ----

// SendHttpResponse answers the stream locally with statusCode, headers and
// body instead of forwarding it; the host sends it after the current
// callback returns (return ActionPause from it). grpcStatus is the gRPC
// status to send, or -1 for a plain HTTP response.
func SendHttpResponse(statusCode uint32, headers [][2]string, body []byte, grpcStatus int32) error {
	var hdrs []byte
	if len(headers) > 0 {
		hdrs = abi.EncodePairs(nil, headers)
	}
	return statusErr(h().SendLocalResponse(statusCode, "", body, hdrs, grpcStatus))
}

// ResumeHttpRequest resumes a request paused by ActionPause.
func ResumeHttpRequest() error { return statusErr(h().ContinueStream(abi.StreamHTTPRequest)) }

// ResumeHttpResponse resumes a response paused by ActionPause.
func ResumeHttpResponse() error { return statusErr(h().ContinueStream(abi.StreamHTTPResponse)) }

// ResetHttpStream resets (aborts) the current HTTP stream.
func ResetHttpStream() error { return statusErr(h().CloseStream(abi.StreamHTTPRequest)) }

// ---- HTTP callouts ----

// DispatchHttpCall sends an HTTP request to upstream (a host-defined name)
// and calls callback with the response; headers must include :method,
// :path and :authority. Call it from a plugin or HTTP context callback; the
// response is delivered to the plugin context, and the SDK makes the
// dispatching HTTP context effective again before callback runs, so it can
// call ResumeHttpRequest. It returns the call's token.
func DispatchHttpCall(upstream string, headers [][2]string, body []byte, trailers [][2]string,
	timeoutMillisecond uint32, callback HttpCalloutCallback) (uint32, error) {
	if callback == nil {
		return 0, ErrBadArgument
	}
	_, p := rootOf(state.current)
	if p == nil {
		return 0, fmt.Errorf("proxywasm: DispatchHttpCall outside a plugin or HTTP context callback: %w", ErrBadArgument)
	}
	var tr []byte
	if len(trailers) > 0 {
		tr = abi.EncodePairs(nil, trailers)
	}
	token, st := h().HTTPCall(upstream, abi.EncodePairs(nil, headers), body, tr, timeoutMillisecond)
	if st != abi.StatusOK {
		return 0, StatusError(st)
	}
	if p.callout == nil {
		p.callout = make(map[uint32]callout)
	}
	p.callout[token] = callout{from: state.current, cb: callback}
	return token, nil
}

// GetHttpCallResponseHeaders returns the headers of the callout response
// being delivered.
func GetHttpCallResponseHeaders() ([][2]string, error) {
	return getMap(abi.MapHTTPCallResponseHeaders)
}

// GetHttpCallResponseBody returns up to maxSize bytes of the callout
// response body from start.
func GetHttpCallResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(abi.BufferHTTPCallResponseBody, start, maxSize)
}

// GetHttpCallResponseTrailers returns the trailers of the callout response.
func GetHttpCallResponseTrailers() ([][2]string, error) {
	return getMap(abi.MapHTTPCallResponseTrailers)
}

// ---- Properties ----

// GetProperty returns the value of the property at path, e.g.
// []string{"request", "path"}; ErrNotFound if the host has none. Values
// use Envoy's encodings (see abi.DecodeInt64 and friends).
func GetProperty(path []string) ([]byte, error) {
	b, st := h().GetProperty(abi.JoinPath(path...))
	if st != abi.StatusOK {
		return nil, StatusError(st)
	}
	return b, nil
}

// SetProperty sets the property at path to value.
func SetProperty(path []string, value []byte) error {
	return statusErr(h().SetProperty(abi.JoinPath(path...), value))
}

// ---- Shared data ----

// GetSharedData returns the value stored under key in the VM-shared store
// and its CAS token; ErrNotFound if absent.
func GetSharedData(key string) (value []byte, cas uint32, err error) {
	v, c, st := h().GetSharedData(key)
	if st != abi.StatusOK {
		return nil, 0, StatusError(st)
	}
	return v, c, nil
}

// SetSharedData stores value under key. A non-zero cas must equal the
// current CAS token (from GetSharedData), else ErrCasMismatch; 0 writes
// unconditionally.
func SetSharedData(key string, value []byte, cas uint32) error {
	return statusErr(h().SetSharedData(key, value, cas))
}

// ---- Shared queues ----

// RegisterSharedQueue creates (or finds) this VM's queue name and returns
// its id; OnQueueReady fires on the current plugin context when it has data.
func RegisterSharedQueue(name string) (uint32, error) {
	id, st := h().RegisterSharedQueue(name)
	return id, statusErr(st)
}

// ResolveSharedQueue finds the queue name of VM vmID ("" for this VM).
func ResolveSharedQueue(vmID, name string) (uint32, error) {
	id, st := h().ResolveSharedQueue(vmID, name)
	return id, statusErr(st)
}

// EnqueueSharedQueue appends data to queue queueID.
func EnqueueSharedQueue(queueID uint32, data []byte) error {
	return statusErr(h().EnqueueSharedQueue(queueID, data))
}

// DequeueSharedQueue pops the oldest item of queueID; ErrEmpty if none.
func DequeueSharedQueue(queueID uint32) ([]byte, error) {
	b, st := h().DequeueSharedQueue(queueID)
	if st != abi.StatusOK {
		return nil, StatusError(st)
	}
	return b, nil
}

// ---- Metrics ----

// MetricCounter is a monotonically increasing host metric.
type MetricCounter uint32

// MetricGauge is a host metric that is set or moved up and down.
type MetricGauge uint32

// MetricHistogram is a host metric recording a distribution.
type MetricHistogram uint32

func defineMetric(mt abi.MetricType, name string) (uint32, error) {
	id, st := h().DefineMetric(mt, name)
	return id, statusErr(st)
}

// DefineCounterMetric defines (or finds) the counter name.
func DefineCounterMetric(name string) (MetricCounter, error) {
	id, err := defineMetric(abi.MetricCounter, name)
	return MetricCounter(id), err
}

// Increment adds offset to the counter.
func (m MetricCounter) Increment(offset uint64) error {
	if offset > math.MaxInt64 {
		return ErrBadArgument
	}
	return statusErr(h().IncrementMetric(uint32(m), int64(offset)))
}

// Value returns the counter's value.
func (m MetricCounter) Value() (uint64, error) {
	v, st := h().GetMetric(uint32(m))
	return v, statusErr(st)
}

// DefineGaugeMetric defines (or finds) the gauge name.
func DefineGaugeMetric(name string) (MetricGauge, error) {
	id, err := defineMetric(abi.MetricGauge, name)
	return MetricGauge(id), err
}

// Add moves the gauge by delta (negative to decrease).
func (m MetricGauge) Add(delta int64) error {
	return statusErr(h().IncrementMetric(uint32(m), delta))
}

// Record sets the gauge to value.
func (m MetricGauge) Record(value int64) error {
	return statusErr(h().RecordMetric(uint32(m), uint64(value)))
}

// Value returns the gauge's value.
func (m MetricGauge) Value() (int64, error) {
	v, st := h().GetMetric(uint32(m))
	return int64(v), statusErr(st)
}

// DefineHistogramMetric defines (or finds) the histogram name.
func DefineHistogramMetric(name string) (MetricHistogram, error) {
	id, err := defineMetric(abi.MetricHistogram, name)
	return MetricHistogram(id), err
}

// Record adds value to the histogram.
func (m MetricHistogram) Record(value uint64) error {
	return statusErr(h().RecordMetric(uint32(m), value))
}

// ---- Foreign functions ----

// CallForeignFunction calls the host function name (e.g. Weir's
// weir.consumer_lookup) with args and returns its result; ErrNotFound if
// the host has no such function.
func CallForeignFunction(name string, args []byte) ([]byte, error) {
	b, st := h().CallForeignFunction(name, args)
	if st != abi.StatusOK {
		return nil, StatusError(st)
	}
	return b, nil
}

// GetForeignFunctionArguments returns the arguments of the
// OnForeignFunction call in progress.
func GetForeignFunctionArguments() ([]byte, error) {
	return getBuffer(abi.BufferForeignFunctionArguments, 0, maxBuf)
}
