;; Minimal header-adding plugin (proxy-wasm ABI 0.2.1) for
;; BenchmarkStreamAddHeader: proxy_on_request_headers adds "x-weir: 1";
;; the other stream callbacks are exported, as SDK-built plugins do. Build:
;;   wat2wasm --debug-names addheader.wat -o addheader.wasm
(module
  (import "env" "proxy_add_header_map_value" (func $add_hv (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 1024) "x-weir")
  (data (i32.const 1040) "1")

  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add_hv (i32.const 0) (i32.const 1024) (i32.const 6) (i32.const 1040) (i32.const 1)))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32)
    (global.set $heap (i32.const 4096))))
