;; Test plugin for host/wasm (proxy-wasm ABI 0.2.1).
;; proxy_on_request_headers dispatches on the first byte of request header
;; "x-mode"; without it, it adds "x-wasm: 1". Build:
;;   wat2wasm --debug-names plugin.wat -o plugin.wasm
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $rep_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $set_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_eff (param i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $reg_q (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $deq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))
  (import "env" "proxy_define_metric" (func $def_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc_metric (param i32 i64) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $ffi (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $get_log_level (param i32) (result i32)))
  (import "env" "weird_host_fn" (func $weird (param i32) (result i32)))
  (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $stream (mut i32) (i32.const 0))
  (global $qid (mut i32) (i32.const 0))
  (global $m_ticks (mut i32) (i32.const 0))
  (global $m_queue (mut i32) (i32.const 0))
  (global $m_callout (mut i32) (i32.const 0))

  (data (i32.const 1024) "x-mode")
  (data (i32.const 1040) "x-wasm")
  (data (i32.const 1056) "1")
  (data (i32.const 1064) "x-resp")
  (data (i32.const 1080) "started")
  (data (i32.const 1096) "denied")
  (data (i32.const 1112) "no")
  (data (i32.const 1120) "up")
  (data (i32.const 1128) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\03\00\00\00:method\00GET\00:path\00/\00:authority\00svc\00")
  (data (i32.const 1200) "x-callout")
  (data (i32.const 1216) "k")
  (data (i32.const 1218) "v")
  (data (i32.const 1224) "q")
  (data (i32.const 1226) "x")
  (data (i32.const 1232) "ticks")
  (data (i32.const 1240) "queue_ready")
  (data (i32.const 1256) "clear_route_cache")
  (data (i32.const 1280) "compress")
  (data (i32.const 1296) "nope")
  (data (i32.const 1304) "plugin_name")
  (data (i32.const 1320) "x-plugin-name")
  (data (i32.const 1344) "\d0\07\00\00")
  (data (i32.const 1360) "callouts")
  (data (i32.const 1500) "\f0\05\00\00\06\00\00\00")
  (data (i32.const 1520) "hello\n")

  (func (export "proxy_abi_version_0_2_1"))

  ;; Bump allocator; grows memory on demand, 0 when it cannot.
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap)
      (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (block $ok
      (loop $grow
        (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
        (br $grow)))
    (local.get $p))

  (func (export "proxy_on_context_create") (param i32 i32))

  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 1080) (i32.const 7)))
    (drop (call $fd_write (i32.const 1) (i32.const 1500) (i32.const 1) (i32.const 1600)))
    (global.set $m_ticks (i32.const 0))
    (drop (call $def_metric (i32.const 0) (i32.const 1232) (i32.const 5) (i32.const 16)))
    (global.set $m_ticks (i32.load (i32.const 16)))
    (drop (call $def_metric (i32.const 0) (i32.const 1240) (i32.const 11) (i32.const 16)))
    (global.set $m_queue (i32.load (i32.const 16)))
    (drop (call $def_metric (i32.const 0) (i32.const 1360) (i32.const 8) (i32.const 16)))
    (global.set $m_callout (i32.load (i32.const 16)))
    (i32.const 1))

  ;; Rejects a configuration starting with 'r'.
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (if (call $get_buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 8) (i32.const 12))
      (then (return (i32.const 0))))
    (i32.ne (i32.load8_u (i32.load (i32.const 8))) (i32.const 114)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $mode i32) (local $a i32)
    (if (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const 8) (i32.const 12))
      (then
        (drop (call $add_hv (i32.const 0) (i32.const 1040) (i32.const 6) (i32.const 1056) (i32.const 1)))
        (return (i32.const 0))))
    (local.set $mode (i32.load8_u (i32.load (i32.const 8))))
    ;; 'l': infinite loop
    (if (i32.eq (local.get $mode) (i32.const 108)) (then (loop $spin (br $spin))))
    ;; 'g': grow until refused; returns the number of pages
    (if (i32.eq (local.get $mode) (i32.const 103)) (then
      (block $done (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $more)))
      (return (memory.size))))
    ;; 'u': trap
    (if (i32.eq (local.get $mode) (i32.const 117)) (then unreachable))
    ;; 'b': out-of-range pointers; returns 6 if every call said INVALID_MEMORY_ACCESS
    (if (i32.eq (local.get $mode) (i32.const 98)) (then
      (if (i32.ne (call $log (i32.const 2) (i32.const -16) (i32.const 100)) (i32.const 6)) (then (return (i32.const 90))))
      (if (i32.ne (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const -2) (i32.const 12)) (i32.const 6)) (then (return (i32.const 91))))
      (if (i32.ne (call $add_hv (i32.const 0) (i32.const 1040) (i32.const -1) (i32.const 1056) (i32.const 1)) (i32.const 6)) (then (return (i32.const 92))))
      (if (i32.ne (call $set_pairs (i32.const 0) (i32.const 100) (i32.const 0x7fffffff)) (i32.const 6)) (then (return (i32.const 93))))
      (return (i32.const 6))))
    ;; 'h': pairs with 2000 entries; returns the status (BAD_ARGUMENT)
    (if (i32.eq (local.get $mode) (i32.const 104)) (then
      (return (call $set_pairs (i32.const 0) (i32.const 1344) (i32.const 100)))))
    ;; 'p': local response 403 (deferred) then continue
    (if (i32.eq (local.get $mode) (i32.const 112)) (then
      (drop (call $local (i32.const 403) (i32.const 1096) (i32.const 6) (i32.const 1112) (i32.const 2)
        (i32.const 0) (i32.const 0) (i32.const -1)))
      (drop (call $continue (i32.const 0)))
      (return (i32.const 0))))
    ;; 'c': callout, pause; the response adds x-callout and continues
    (if (i32.eq (local.get $mode) (i32.const 99)) (then
      (global.set $stream (local.get $ctx))
      (if (call $http_call (i32.const 1120) (i32.const 2) (i32.const 1128) (i32.const 63)
            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 20))
        (then (return (i32.const 80))))
      (return (i32.const 1))))
    ;; 's': shared data with CAS; returns 0 when CAS semantics hold
    (if (i32.eq (local.get $mode) (i32.const 115)) (then
      (if (call $set_sd (i32.const 1216) (i32.const 1) (i32.const 1218) (i32.const 1) (i32.const 0)) (then (return (i32.const 70))))
      (if (call $get_sd (i32.const 1216) (i32.const 1) (i32.const 8) (i32.const 12) (i32.const 16)) (then (return (i32.const 71))))
      (if (i32.ne (i32.load8_u (i32.load (i32.const 8))) (i32.const 118)) (then (return (i32.const 72))))
      (if (i32.ne (call $set_sd (i32.const 1216) (i32.const 1) (i32.const 1218) (i32.const 1)
            (i32.add (i32.load (i32.const 16)) (i32.const 1))) (i32.const 8)) (then (return (i32.const 73))))
      (if (call $set_sd (i32.const 1216) (i32.const 1) (i32.const 1218) (i32.const 1) (i32.load (i32.const 16)))
        (then (return (i32.const 74))))
      (return (i32.const 0))))
    ;; 'q': register queue "q" and enqueue "x"
    (if (i32.eq (local.get $mode) (i32.const 113)) (then
      (if (call $reg_q (i32.const 1224) (i32.const 1) (i32.const 16)) (then (return (i32.const 60))))
      (global.set $qid (i32.load (i32.const 16)))
      (return (call $enq (global.get $qid) (i32.const 1226) (i32.const 1)))))
    ;; 't': tick every 5 ms
    (if (i32.eq (local.get $mode) (i32.const 116)) (then
      (return (call $tick_period (i32.const 5)))))
    ;; 'f': foreign functions; returns 0 when statuses are OK/UNIMPLEMENTED/NOT_FOUND
    (if (i32.eq (local.get $mode) (i32.const 102)) (then
      (if (call $ffi (i32.const 1256) (i32.const 17) (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 12)) (then (return (i32.const 50))))
      (if (i32.ne (call $ffi (i32.const 1280) (i32.const 8) (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 12)) (i32.const 12)) (then (return (i32.const 51))))
      (if (i32.ne (call $ffi (i32.const 1296) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 12)) (i32.const 1)) (then (return (i32.const 52))))
      (return (i32.const 0))))
    ;; 'r': copy property plugin_name into header x-plugin-name
    (if (i32.eq (local.get $mode) (i32.const 114)) (then
      (if (call $get_prop (i32.const 1304) (i32.const 11) (i32.const 8) (i32.const 12)) (then (return (i32.const 40))))
      (return (call $add_hv (i32.const 0) (i32.const 1320) (i32.const 13) (i32.load (i32.const 8)) (i32.load (i32.const 12))))))
    ;; 'w': unknown env import (stub answers UNIMPLEMENTED)
    (if (i32.eq (local.get $mode) (i32.const 119)) (then
      (return (call $weird (i32.const 0)))))
    ;; 'v': log level
    (if (i32.eq (local.get $mode) (i32.const 118)) (then
      (if (call $get_log_level (i32.const 16)) (then (return (i32.const 30))))
      (return (i32.load (i32.const 16)))))
    (i32.const 0))

  (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
    (drop (call $inc_metric (global.get $m_callout) (i64.const 1)))
    (drop (call $set_eff (global.get $stream)))
    (if (call $get_buf (i32.const 4) (i32.const 0) (local.get $bs) (i32.const 8) (i32.const 12))
      (then (return)))
    (drop (call $add_hv (i32.const 0) (i32.const 1200) (i32.const 9) (i32.load (i32.const 8)) (i32.load (i32.const 12))))
    (drop (call $continue (i32.const 0))))

  (func (export "proxy_on_queue_ready") (param $root i32) (param $qid i32)
    (if (i32.eqz (call $deq (local.get $qid) (i32.const 8) (i32.const 12)))
      (then (drop (call $inc_metric (global.get $m_queue) (i64.const 1))))))

  (func (export "proxy_on_tick") (param $root i32)
    (drop (call $inc_metric (global.get $m_ticks) (i64.const 1))))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $rep_hv (i32.const 2) (i32.const 1064) (i32.const 6) (i32.const 1056) (i32.const 1)))
    (i32.const 0))

  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32)
    (global.set $heap (i32.const 65536)))
)
