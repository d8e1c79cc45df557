;; ABI 0.1.0 probe plugin for host/e2e_abi_test.go: the 0.1.0-only host
;; functions, the 0.1.0 callback signatures, malloc as the only allocator
;; and _start as the only start function. proxy_on_request_headers reads
;; "x-probe: <name>" and reports in request header "x-probe-out".
;; Build (from host/testdata):
;;   wat2wasm --debug-names probe010.wat -o probe010.wasm
(module
  (import "env" "proxy_get_header_map_value" (func $get_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func $get_config (param i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $continue_request (result i32)))
  (import "env" "proxy_continue_response" (func $continue_response (result i32)))
  (import "env" "proxy_clear_route_cache" (func $clear_route_cache (result i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $pp (mut i32) (i32.const 0))
  (global $pl (mut i32) (i32.const 0))
  (global $out (mut i32) (i32.const 0))
  (global $allocs (mut i32) (i32.const 0))
  (global $started (mut i32) (i32.const 0))
  (global $resp_ctx (mut i32) (i32.const 0))

  (data (i32.const 1024) "x-probe")
  (data (i32.const 1040) "x-probe-out")
  (data (i32.const 1056) "x-missing")
  (data (i32.const 1072) "x-resp-probe")
  (data (i32.const 1096) ":status")
  (data (i32.const 2048) "proxy_get_configuration\00")
  (data (i32.const 2096) "proxy_continue_request\00")
  (data (i32.const 2144) "proxy_continue_response\00")
  (data (i32.const 2192) "proxy_clear_route_cache\00")
  (data (i32.const 2240) "malloc\00")
  (data (i32.const 2288) "_start\00")
  (data (i32.const 2336) "proxy_get_header_map_value\00")

  (func (export "proxy_abi_version_0_1_0"))

  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (block $ok
      (loop $grow
        (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
        (br $grow)))
    (local.get $p))

  (func (export "_start") (global.set $started (i32.const 1)))

  (func $is (param $s i32) (result i32)
    (local $i i32)
    (block $no
      (loop $next
        (if (i32.eq (local.get $i) (global.get $pl))
          (then (return (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $i)))))))
        (br_if $no (i32.ne (i32.load8_u (i32.add (local.get $s) (local.get $i)))
                           (i32.load8_u (i32.add (global.get $pp) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))
  (func $outb (param $p i32) (param $n i32)
    (memory.copy (i32.add (i32.const 8192) (global.get $out)) (local.get $p) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))
  ;; $outd appends a small number (0..99) and a comma.
  (func $outd (param $v i32)
    (if (i32.ge_u (local.get $v) (i32.const 10)) (then
      (i32.store8 (i32.add (i32.const 8192) (global.get $out)) (i32.add (i32.const 48) (i32.div_u (local.get $v) (i32.const 10))))
      (global.set $out (i32.add (global.get $out) (i32.const 1)))))
    (i32.store8 (i32.add (i32.const 8192) (global.get $out)) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
    (i32.store8 (i32.add (i32.const 8193) (global.get $out)) (i32.const 44))
    (global.set $out (i32.add (global.get $out) (i32.const 2))))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))

  ;; The 0.1.0 signature: no end_of_stream.
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (result i32)
    (local $r i32) (local $a i32)
    (global.set $heap (i32.const 65536))
    (global.set $out (i32.const 0))
    (if (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 7) (i32.const 8) (i32.const 12)) (then (return (i32.const 0))))
    (global.set $pp (i32.load (i32.const 8)))
    (global.set $pl (i32.load (i32.const 12)))
    (local.set $r (block $act (result i32)
      (if (call $is (i32.const 2048)) (then
        (call $outd (call $get_config (i32.const 8) (i32.const 12)))
        (call $outb (i32.load (i32.const 8)) (i32.load (i32.const 12)))
        (br $act (i32.const 0))))
      (if (call $is (i32.const 2096)) (then
        (call $outd (call $continue_request))
        (br $act (i32.const 1))))
      (if (call $is (i32.const 2144)) (then
        (global.set $resp_ctx (local.get $ctx))
        (call $outd (i32.const 0))
        (br $act (i32.const 0))))
      (if (call $is (i32.const 2192)) (then
        (call $outd (call $clear_route_cache))
        (br $act (i32.const 0))))
      (if (call $is (i32.const 2240)) (then
        (local.set $a (global.get $allocs))
        (drop (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 7) (i32.const 8) (i32.const 12)))
        (call $outd (i32.sub (global.get $allocs) (local.get $a)))
        (br $act (i32.const 0))))
      (if (call $is (i32.const 2288)) (then
        (call $outd (global.get $started))
        (br $act (i32.const 0))))
      ;; 0.1.0: a missing header is OK with an empty value.
      (if (call $is (i32.const 2336)) (then
        (call $outd (call $get_hv (i32.const 0) (i32.const 1056) (i32.const 9) (i32.const 8) (i32.const 12)))
        (call $outd (i32.load (i32.const 12)))
        (br $act (i32.const 0))))
      (call $outd (local.get $n))
      (i32.const 0)))
    (if (global.get $out) (then
      (drop (call $add_hv (i32.const 0) (i32.const 1040) (i32.const 11) (i32.const 8192) (global.get $out)))))
    (local.get $r))

  ;; The 0.1.0 signature. For the continue_response probe: pause, then
  ;; resume with proxy_continue_response; always add x-resp-probe: :status.
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (result i32)
    (global.set $heap (i32.const 65536))
    (if (i32.eqz (call $get_hv (i32.const 2) (i32.const 1096) (i32.const 7) (i32.const 8) (i32.const 12)))
      (then (drop (call $add_hv (i32.const 2) (i32.const 1072) (i32.const 12) (i32.load (i32.const 8)) (i32.load (i32.const 12))))))
    (if (i32.and (i32.ne (global.get $resp_ctx) (i32.const 0)) (i32.eq (global.get $resp_ctx) (local.get $ctx))) (then
      (global.set $resp_ctx (i32.const 0))
      (global.set $out (i32.const 0))
      (call $outd (call $continue_response))
      (drop (call $add_hv (i32.const 2) (i32.const 1040) (i32.const 11) (i32.const 8192) (global.get $out)))
      (return (i32.const 1))))
    (i32.const 0))
)
