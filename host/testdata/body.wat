;; Test plugin for Weir's body phases (proxy-wasm ABI 0.2.1). It removes
;; content-length in both header phases (the Envoy convention for a plugin
;; that resizes bodies), buffers each body until end of stream, then wraps
;; the request body as "<<body>>" and appends "!!" to the response body.
;; In the trailer phases it adds "x-plugin-trailer: request" to request
;; trailers and "x-plugin-trailer: response" to response trailers.
;; Build (from this directory):
;;   wat2wasm --debug-names body.wat -o body.wasm
(module
  (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 1024) "content-length")
  (data (i32.const 1040) "<<")
  (data (i32.const 1044) ">>")
  (data (i32.const 1048) "!!")
  (data (i32.const 1056) "x-plugin-trailer")
  (data (i32.const 1080) "request")
  (data (i32.const 1088) "response")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (global.get $heap) (i32.const 131072)) (then (global.set $heap (i32.const 65536)) (local.set $p (i32.const 65536))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $remove (i32.const 0) (i32.const 1024) (i32.const 14)))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    ;; prepend "<<" then append ">>"
    (drop (call $set_buf (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1040) (i32.const 2)))
    (drop (call $set_buf (i32.const 0) (i32.add (local.get $size) (i32.const 2)) (i32.const 0) (i32.const 1044) (i32.const 2)))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $remove (i32.const 2) (i32.const 1024) (i32.const 14)))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $set_buf (i32.const 1) (local.get $size) (i32.const 0) (i32.const 1048) (i32.const 2)))
    (i32.const 0))
  ;; Map types: 1 = request trailers, 3 = response trailers.
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
    (drop (call $add (i32.const 1) (i32.const 1056) (i32.const 16) (i32.const 1080) (i32.const 7)))
    (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
    (drop (call $add (i32.const 3) (i32.const 1056) (i32.const 16) (i32.const 1088) (i32.const 8)))
    (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
