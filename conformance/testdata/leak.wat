;; leak: a deliberately broken copy of good.wat for the conformance
;; tests (conformance/broken_test.go): it sets aside 16 KiB for every
;; stream and never gives it back (growing memory a page at a time when
;; the leaked area reaches its end).
;; Expected to fail exactly: robustness.memory-leak.
;;
;; Build: wat2wasm --debug-names conformance/testdata/leak.wat -o conformance/testdata/leak.wasm
(module
  (import "env" "proxy_replace_header_map_value"
    (func $replace_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes"
    (func $get_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))

  (memory (export "memory") 2)
  (data (i32.const 1024) "x-conformance")
  (data (i32.const 1040) "ok")

  ;; Scratch allocator: bump from 64 KiB, growing memory on demand; the
  ;; host's data is only read during the callback that asked for it, so
  ;; every callback starts afresh ($reset) and nothing leaks.
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

  ;; FAULT-MARKER
  (func (export "proxy_abi_version_0_2_1"))

  ;; FAULT-CONTEXT
  ;; FAULT: 16 KiB per stream context, never freed.
  (global $leaked (mut i32) (i32.const 0))
  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
    (if (local.get $parent) (then
      (global.set $leaked (i32.add (global.get $leaked) (i32.const 16384)))
      (if (i32.ge_u (global.get $leaked) (i32.const 65536)) (then
        (global.set $leaked (i32.const 0))
        (drop (memory.grow (i32.const 1))))))))

  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))

  ;; Accepts an empty configuration or one starting with '{'.
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    ;; FAULT-CONFIGURE
    (call $reset)
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (if (call $get_buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 8) (i32.const 12))
      (then (return (i32.const 0))))
    (i32.eq (i32.load8_u (i32.load (i32.const 8))) (i32.const 123)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    ;; FAULT-SLOW
    (call $reset)
    ;; FAULT-VALUE
    (drop (call $replace_hv (i32.const 0) (i32.const 1024) (i32.const 13) (i32.const 1040) (i32.const 2)))
    (i32.const 0))

  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))

  ;; Busy-waits $ms milliseconds on the monotonic clock (for the slow
  ;; variant).
  (func $spin (param $ms i64)
    (local $t0 i64)
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 16)))
    (local.set $t0 (i64.load (i32.const 16)))
    (loop $wait
      (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 16)))
      (br_if $wait (i64.lt_u (i64.sub (i64.load (i32.const 16)) (local.get $t0))
        (i64.mul (local.get $ms) (i64.const 1000000))))))
)
