;; features: a proxy-wasm plugin (ABI 0.2.1) that uses what scenario
;; expectations can check, for the conformance tests (scenario_test.go):
;;   - proxy_on_configure defines the counters "requests" and "ticks" and
;;     sets a 10 ms tick period (proxy_on_tick increments "ticks");
;;   - proxy_on_request_headers increments "requests", logs "handling
;;     request" (info), reads the property request.path, calls the
;;     upstream "authz" (GET /check) and pauses;
;;   - the callout's answer adds x-authz: checked to the paused request
;;     (proxy_set_effective_context) and resumes it (proxy_continue_stream).
;;
;; Build: wat2wasm --debug-names conformance/testdata/features.wat -o conformance/testdata/features.wasm
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_http_call"
    (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $def_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_property" (func $get_prop (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)
  (data (i32.const 1024) "requests")
  (data (i32.const 1040) "ticks")
  (data (i32.const 1056) "handling request")
  (data (i32.const 1088) "request\00path")
  (data (i32.const 1104) "authz")
  (data (i32.const 1120) "x-authz")
  (data (i32.const 1136) "checked")
  ;; Serialized pairs: :method GET, :path /check, :authority authz (70 bytes).
  (data (i32.const 1152)
    "\03\00\00\00"
    "\07\00\00\00\03\00\00\00" "\05\00\00\00\06\00\00\00" "\0a\00\00\00\05\00\00\00"
    ":method\00GET\00:path\00/check\00:authority\00authz\00")

  (global $m_requests (mut i32) (i32.const 0))
  (global $m_ticks (mut i32) (i32.const 0))
  (global $stream (mut i32) (i32.const 0))

  ;; Scratch allocator, reset at each callback that receives data.
  (global $heap (mut i32) (i32.const 65536))
  (func $reset (global.set $heap (i32.const 65536)))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p)
      (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (block $ok
      (loop $grow
        (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
        (br $grow)))
    (local.get $p))

  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $def_metric (i32.const 0) (i32.const 1024) (i32.const 8) (i32.const 16)))
    (global.set $m_requests (i32.load (i32.const 16)))
    (drop (call $def_metric (i32.const 0) (i32.const 1040) (i32.const 5) (i32.const 16)))
    (global.set $m_ticks (i32.load (i32.const 16)))
    (drop (call $tick_period (i32.const 10)))
    (i32.const 1))

  (func (export "proxy_on_tick") (param i32)
    (drop (call $inc_metric (global.get $m_ticks) (i64.const 1))))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $reset)
    (drop (call $inc_metric (global.get $m_requests) (i64.const 1)))
    (drop (call $log (i32.const 2) (i32.const 1056) (i32.const 16)))
    (drop (call $get_prop (i32.const 1088) (i32.const 12) (i32.const 8) (i32.const 12)))
    (global.set $stream (local.get $ctx))
    ;; Without a dispatcher or with an unknown upstream: continue unpaused.
    (if (call $http_call (i32.const 1104) (i32.const 5) (i32.const 1152) (i32.const 70)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 20))
      (then (return (i32.const 0))))
    (i32.const 1))

  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $set_effective (global.get $stream)))
    (drop (call $add_hv (i32.const 0) (i32.const 1120) (i32.const 7) (i32.const 1136) (i32.const 7)))
    (drop (call $continue (i32.const 0))))

  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
)
