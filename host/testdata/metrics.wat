;; Test plugin for Weir's telemetry (proxy-wasm ABI 0.2.1). Every request
;; increments the counter "hits" and records 7 into the histogram
;; "payload" (proxy_define_metric returns the same id for the same name);
;; on_configure sets the gauge "configured" to 1. Every phase continues.
;; Build (from this directory):
;;   wat2wasm --debug-names metrics.wat -o metrics.wasm
(module
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $incr (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 1024) "hits")
  (data (i32.const 1032) "payload")
  (data (i32.const 1040) "configured")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (global.get $heap) (i32.const 131072)) (then (global.set $heap (i32.const 65536)) (local.set $p (i32.const 65536))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    ;; gauge (type 1) "configured" = 1
    (drop (call $define (i32.const 1) (i32.const 1040) (i32.const 10) (i32.const 2048)))
    (drop (call $record (i32.load (i32.const 2048)) (i64.const 1)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; counter (type 0) "hits" += 1
    (drop (call $define (i32.const 0) (i32.const 1024) (i32.const 4) (i32.const 2048)))
    (drop (call $incr (i32.load (i32.const 2048)) (i64.const 1)))
    ;; histogram (type 2) "payload" <- 7
    (drop (call $define (i32.const 2) (i32.const 1032) (i32.const 7) (i32.const 2052)))
    (drop (call $record (i32.load (i32.const 2052)) (i64.const 7)))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
