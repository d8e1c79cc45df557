;; Runaway guest code for the deadline tests (proxy-wasm ABI 0.2.1). Build:
;;   wat2wasm --debug-names runaway.wat -o runaway.wasm
;; proxy_on_request_headers: an exponential call tree without any loop
;; (2^62 calls), which only function-entry checks can stop.
;; proxy_on_response_headers: a loop calling a host function.
(module
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) (i32.const 0))
  (func $bomb (param $n i32)
    (if (i32.eqz (local.get $n)) (then (return)))
    (call $bomb (i32.sub (local.get $n) (i32.const 1)))
    (call $bomb (i32.sub (local.get $n) (i32.const 1))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $bomb (i32.const 62))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (loop $l (drop (call $now (i32.const 8))) (br $l))
    (i32.const 0)))
