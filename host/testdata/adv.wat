;; Adversarial plugin (proxy-wasm ABI 0.2.1) for host/e2e_adversarial_test.go.
;; Request header "x-adv: <action><where>" picks a misbehaviour:
;;   action: l = infinite loop, u = trap (unreachable), g = memory.grow
;;           until refused (then continue, reporting pages in x-adv-pages)
;;   where:  h = proxy_on_request_headers, b = proxy_on_request_body,
;;           H = proxy_on_response_headers, B = proxy_on_response_body,
;;           L = proxy_on_log, d = proxy_on_done,
;;           c = proxy_on_http_call_response (after a callout to "side"),
;;           t = proxy_on_tick, q = proxy_on_queue_ready
;; Other x-adv values:
;;   xc  call host function "x-call" with the decimal arguments of
;;       "x-args" (comma-separated); the status goes upstream in x-adv-out
;;   Hk  add 10000 request headers; Hv  a 2 MiB request header value
;;   r1  proxy_send_local_response twice (401 then 402) and
;;       proxy_continue_stream twice; r2  continue twice, then Pause
;;   r3  a callout whose response makes a second callout, whose response
;;       resumes; r4  two local responses from proxy_on_response_headers;
;;   r5  proxy_continue_stream and proxy_send_local_response from
;;       proxy_on_log and proxy_on_done (the stream is over)
;; Configuration {"loop":"configure"} / {"loop":"vm_start"} /
;; {"trap":"configure"} misbehave at start-up.
;; Build (from host/testdata):
;;   wat2wasm --debug-names adv.wat -o adv.wasm
(module
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $proxy_get_log_level (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $proxy_get_current_time_nanoseconds (param i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $proxy_set_tick_period_milliseconds (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $proxy_set_effective_context (param i32) (result i32)))
  (import "env" "proxy_done" (func $proxy_done (result i32)))
  (import "env" "proxy_call_foreign_function" (func $proxy_call_foreign_function (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $proxy_get_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $proxy_set_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_status" (func $proxy_get_buffer_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $proxy_get_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $proxy_set_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $proxy_get_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $proxy_replace_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $proxy_remove_header_map_value (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_size" (func $proxy_get_header_map_size (param i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $proxy_continue_stream (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $proxy_close_stream (param i32) (result i32)))
  (import "env" "proxy_get_status" (func $proxy_get_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $proxy_send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $proxy_http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $proxy_grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_stream" (func $proxy_grpc_stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_send" (func $proxy_grpc_send (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $proxy_grpc_cancel (param i32) (result i32)))
  (import "env" "proxy_grpc_close" (func $proxy_grpc_close (param i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $proxy_get_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $proxy_set_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $proxy_register_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_resolve_shared_queue" (func $proxy_resolve_shared_queue (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $proxy_enqueue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $proxy_dequeue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $proxy_define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $proxy_increment_metric (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $proxy_record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $proxy_get_metric (param i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $proxy_get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $proxy_set_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func $proxy_get_configuration (param i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $proxy_continue_request (result i32)))
  (import "env" "proxy_continue_response" (func $proxy_continue_response (result i32)))
  (import "env" "proxy_clear_route_cache" (func $proxy_clear_route_cache (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $pp (mut i32) (i32.const 0))
  (global $pl (mut i32) (i32.const 0))
  (global $taction (mut i32) (i32.const 0))
  (global $qaction (mut i32) (i32.const 0))

  ;; 0..255 scratch; 256.. parsed arguments (8 bytes each); 1024..
  ;; constants; 4096.. host function names; 12288 token -> ctx; 16384
  ;; ctx -> mode (action | where << 8).
  (data (i32.const 1024) "x-adv")
  (data (i32.const 1032) "x-call")
  (data (i32.const 1040) "x-args")
  (data (i32.const 1048) "x-adv-out")
  (data (i32.const 1064) "x-adv-pages")
  (data (i32.const 1080) "side")
  (data (i32.const 1088) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\08\00\00\00\0a\00\00\00\04\00\00\00:method\00GET\00:path\00/callout\00:authority\00side\00")
  (data (i32.const 1160) "x-h")
  (data (i32.const 1164) "v")
  (data (i32.const 1168) "x-big")
  (data (i32.const 1176) "aq")
  (data (i32.const 1180) "no")
  (data (i32.const 1184) "x-second")
  (data (i32.const 4096) "proxy_log\00")
  (data (i32.const 4144) "proxy_get_log_level\00")
  (data (i32.const 4192) "proxy_get_current_time_nanoseconds\00")
  (data (i32.const 4240) "proxy_set_tick_period_milliseconds\00")
  (data (i32.const 4288) "proxy_set_effective_context\00")
  (data (i32.const 4336) "proxy_done\00")
  (data (i32.const 4384) "proxy_call_foreign_function\00")
  (data (i32.const 4432) "proxy_get_buffer_bytes\00")
  (data (i32.const 4480) "proxy_set_buffer_bytes\00")
  (data (i32.const 4528) "proxy_get_buffer_status\00")
  (data (i32.const 4576) "proxy_get_header_map_pairs\00")
  (data (i32.const 4624) "proxy_set_header_map_pairs\00")
  (data (i32.const 4672) "proxy_get_header_map_value\00")
  (data (i32.const 4720) "proxy_add_header_map_value\00")
  (data (i32.const 4768) "proxy_replace_header_map_value\00")
  (data (i32.const 4816) "proxy_remove_header_map_value\00")
  (data (i32.const 4864) "proxy_get_header_map_size\00")
  (data (i32.const 4912) "proxy_continue_stream\00")
  (data (i32.const 4960) "proxy_close_stream\00")
  (data (i32.const 5008) "proxy_get_status\00")
  (data (i32.const 5056) "proxy_send_local_response\00")
  (data (i32.const 5104) "proxy_http_call\00")
  (data (i32.const 5152) "proxy_grpc_call\00")
  (data (i32.const 5200) "proxy_grpc_stream\00")
  (data (i32.const 5248) "proxy_grpc_send\00")
  (data (i32.const 5296) "proxy_grpc_cancel\00")
  (data (i32.const 5344) "proxy_grpc_close\00")
  (data (i32.const 5392) "proxy_get_shared_data\00")
  (data (i32.const 5440) "proxy_set_shared_data\00")
  (data (i32.const 5488) "proxy_register_shared_queue\00")
  (data (i32.const 5536) "proxy_resolve_shared_queue\00")
  (data (i32.const 5584) "proxy_enqueue_shared_queue\00")
  (data (i32.const 5632) "proxy_dequeue_shared_queue\00")
  (data (i32.const 5680) "proxy_define_metric\00")
  (data (i32.const 5728) "proxy_increment_metric\00")
  (data (i32.const 5776) "proxy_record_metric\00")
  (data (i32.const 5824) "proxy_get_metric\00")
  (data (i32.const 5872) "proxy_get_property\00")
  (data (i32.const 5920) "proxy_set_property\00")
  (data (i32.const 5968) "proxy_get_configuration\00")
  (data (i32.const 6016) "proxy_continue_request\00")
  (data (i32.const 6064) "proxy_continue_response\00")
  (data (i32.const 6112) "proxy_clear_route_cache\00")

  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (block $ok
      (loop $grow
        (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const 0))))
        (br $grow)))
    (local.get $p))

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

  ;; $itoa writes v (< 10^9) in decimal at 128 and returns its length.
  (func $itoa (param $v i32) (result i32)
    (local $n i32) (local $d i32)
    (local.set $d (i32.const 1000000000))
    (loop $l
      (if (i32.or (local.get $n) (i32.or (i32.ge_u (local.get $v) (local.get $d)) (i32.eq (local.get $d) (i32.const 1)))) (then
        (i32.store8 (i32.add (i32.const 128) (local.get $n)) (i32.add (i32.const 48) (i32.div_u (local.get $v) (local.get $d))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (local.set $v (i32.rem_u (local.get $v) (local.get $d)))
      (local.set $d (i32.div_u (local.get $d) (i32.const 10)))
      (br_if $l (local.get $d)))
    (local.get $n))
  (func $addn (param $k i32) (param $kl i32) (param $v i32)
    (drop (call $proxy_add_header_map_value (i32.const 0) (local.get $k) (local.get $kl) (i32.const 128) (call $itoa (local.get $v)))))

  ;; $misbehave runs an action: loop, trap, or grow until refused
  ;; (returning the page count).
  (func $misbehave (param $a i32) (result i32)
    (if (i32.eq (local.get $a) (i32.const 108)) (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $a) (i32.const 117)) (then unreachable))
    (if (i32.eq (local.get $a) (i32.const 103)) (then
      (block $done (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $more)))
      (block $done (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))))
    (memory.size))

  (func $setmode (param $ctx i32) (param $m i32)
    (i32.store (i32.add (i32.const 16384) (i32.shl (i32.and (local.get $ctx) (i32.const 1023)) (i32.const 2))) (local.get $m)))
  (func $mode (param $ctx i32) (result i32)
    (i32.load (i32.add (i32.const 16384) (i32.shl (i32.and (local.get $ctx) (i32.const 1023)) (i32.const 2)))))
  ;; $at: the mode's action if it applies to callback $where, else 0.
  (func $at (param $ctx i32) (param $where i32) (result i32)
    (if (result i32) (i32.eq (i32.shr_u (call $mode (local.get $ctx)) (i32.const 8)) (local.get $where))
      (then (i32.and (call $mode (local.get $ctx)) (i32.const 255)))
      (else (i32.const 0))))

  (func $callout (param $ctx i32) (result i32)
    (local $st i32)
    (local.set $st (call $proxy_http_call (i32.const 1080) (i32.const 4) (i32.const 1088) (i32.const 71)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 16)))
    (if (i32.eqz (local.get $st)) (then
      (i32.store (i32.add (i32.const 12288) (i32.shl (i32.and (i32.load (i32.const 16)) (i32.const 1023)) (i32.const 2)))
        (local.get $ctx))))
    (local.get $st))

  ;; $args parses x-args ("1,2,-16,...") into 8-byte slots at 256.
  (func $args
    (local $p i32) (local $end i32) (local $i i32) (local $v i64) (local $neg i32) (local $c i32)
    (memory.fill (i32.const 256) (i32.const 0) (i32.const 128))
    (if (call $proxy_get_header_map_value (i32.const 0) (i32.const 1040) (i32.const 6) (i32.const 8) (i32.const 12)) (then (return)))
    (local.set $p (i32.load (i32.const 8)))
    (local.set $end (i32.add (local.get $p) (i32.load (i32.const 12))))
    (block $done (loop $num
      (local.set $v (i64.const 0))
      (local.set $neg (i32.const 0))
      (block $sep (loop $dig
        (br_if $sep (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $sep (i32.eq (local.get $c) (i32.const 44)))
        (if (i32.eq (local.get $c) (i32.const 45)) (then (local.set $neg (i32.const 1)) (br $dig)))
        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
        (br $dig)))
      (if (local.get $neg) (then (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
      (i64.store (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 3))) (local.get $v))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (br_if $done (i32.ge_u (local.get $i) (i32.const 16)))
      (br $num))))

  ;; $hostcall calls the host function named by x-call with the x-args.
  (func $hostcall (result i32)
    (if (call $proxy_get_header_map_value (i32.const 0) (i32.const 1032) (i32.const 6) (i32.const 0) (i32.const 4))
      (then (return (i32.const 999))))
    (global.set $pp (i32.load (i32.const 0)))
    (global.set $pl (i32.load (i32.const 4)))
    (call $args)
    (block $call (result i32)
      (if (call $is (i32.const 4096)) (then (br $call (call $proxy_log (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 4144)) (then (br $call (call $proxy_get_log_level (i32.load (i32.const 256))))))
      (if (call $is (i32.const 4192)) (then (br $call (call $proxy_get_current_time_nanoseconds (i32.load (i32.const 256))))))
      (if (call $is (i32.const 4240)) (then (br $call (call $proxy_set_tick_period_milliseconds (i32.load (i32.const 256))))))
      (if (call $is (i32.const 4288)) (then (br $call (call $proxy_set_effective_context (i32.load (i32.const 256))))))
      (if (call $is (i32.const 4336)) (then (br $call (call $proxy_done ))))
      (if (call $is (i32.const 4384)) (then (br $call (call $proxy_call_foreign_function (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288)) (i32.load (i32.const 296))))))
      (if (call $is (i32.const 4432)) (then (br $call (call $proxy_get_buffer_bytes (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 4480)) (then (br $call (call $proxy_set_buffer_bytes (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 4528)) (then (br $call (call $proxy_get_buffer_status (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 4576)) (then (br $call (call $proxy_get_header_map_pairs (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 4624)) (then (br $call (call $proxy_set_header_map_pairs (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 4672)) (then (br $call (call $proxy_get_header_map_value (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 4720)) (then (br $call (call $proxy_add_header_map_value (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 4768)) (then (br $call (call $proxy_replace_header_map_value (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 4816)) (then (br $call (call $proxy_remove_header_map_value (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 4864)) (then (br $call (call $proxy_get_header_map_size (i32.load (i32.const 256)) (i32.load (i32.const 264))))))
      (if (call $is (i32.const 4912)) (then (br $call (call $proxy_continue_stream (i32.load (i32.const 256))))))
      (if (call $is (i32.const 4960)) (then (br $call (call $proxy_close_stream (i32.load (i32.const 256))))))
      (if (call $is (i32.const 5008)) (then (br $call (call $proxy_get_status (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 5056)) (then (br $call (call $proxy_send_local_response (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288)) (i32.load (i32.const 296)) (i32.load (i32.const 304)) (i32.load (i32.const 312))))))
      (if (call $is (i32.const 5104)) (then (br $call (call $proxy_http_call (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288)) (i32.load (i32.const 296)) (i32.load (i32.const 304)) (i32.load (i32.const 312)) (i32.load (i32.const 320)) (i32.load (i32.const 328))))))
      (if (call $is (i32.const 5152)) (then (br $call (call $proxy_grpc_call (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288)) (i32.load (i32.const 296)) (i32.load (i32.const 304)) (i32.load (i32.const 312)) (i32.load (i32.const 320)) (i32.load (i32.const 328)) (i32.load (i32.const 336)) (i32.load (i32.const 344))))))
      (if (call $is (i32.const 5200)) (then (br $call (call $proxy_grpc_stream (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288)) (i32.load (i32.const 296)) (i32.load (i32.const 304)) (i32.load (i32.const 312)) (i32.load (i32.const 320))))))
      (if (call $is (i32.const 5248)) (then (br $call (call $proxy_grpc_send (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280))))))
      (if (call $is (i32.const 5296)) (then (br $call (call $proxy_grpc_cancel (i32.load (i32.const 256))))))
      (if (call $is (i32.const 5344)) (then (br $call (call $proxy_grpc_close (i32.load (i32.const 256))))))
      (if (call $is (i32.const 5392)) (then (br $call (call $proxy_get_shared_data (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 5440)) (then (br $call (call $proxy_set_shared_data (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 5488)) (then (br $call (call $proxy_register_shared_queue (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 5536)) (then (br $call (call $proxy_resolve_shared_queue (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280)) (i32.load (i32.const 288))))))
      (if (call $is (i32.const 5584)) (then (br $call (call $proxy_enqueue_shared_queue (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 5632)) (then (br $call (call $proxy_dequeue_shared_queue (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272))))))
      (if (call $is (i32.const 5680)) (then (br $call (call $proxy_define_metric (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280))))))
      (if (call $is (i32.const 5728)) (then (br $call (call $proxy_increment_metric (i32.load (i32.const 256)) (i64.load (i32.const 264))))))
      (if (call $is (i32.const 5776)) (then (br $call (call $proxy_record_metric (i32.load (i32.const 256)) (i64.load (i32.const 264))))))
      (if (call $is (i32.const 5824)) (then (br $call (call $proxy_get_metric (i32.load (i32.const 256)) (i32.load (i32.const 264))))))
      (if (call $is (i32.const 5872)) (then (br $call (call $proxy_get_property (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280))))))
      (if (call $is (i32.const 5920)) (then (br $call (call $proxy_set_property (i32.load (i32.const 256)) (i32.load (i32.const 264)) (i32.load (i32.const 272)) (i32.load (i32.const 280))))))
      (if (call $is (i32.const 5968)) (then (br $call (call $proxy_get_configuration (i32.load (i32.const 256)) (i32.load (i32.const 264))))))
      (if (call $is (i32.const 6016)) (then (br $call (call $proxy_continue_request ))))
      (if (call $is (i32.const 6064)) (then (br $call (call $proxy_continue_response ))))
      (if (call $is (i32.const 6112)) (then (br $call (call $proxy_clear_route_cache ))))
      (i32.const 998)))

  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
    (call $setmode (local.get $ctx) (i32.const 0)))

  (func $startup (param $size i32) (param $where i32) (result i32)
    (local $p i32)
    (if (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (i32.const 4096) (i32.const 8) (i32.const 12))
      (then (return (i32.const 1))))
    (if (i32.lt_u (i32.load (i32.const 12)) (i32.const 10)) (then (return (i32.const 1))))
    (local.set $p (i32.load (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 9))) (local.get $where)) (then
      (drop (call $misbehave (select (i32.const 108) (i32.const 117)
        (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 2))) (i32.const 108)))))))
    (i32.const 1))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (call $startup (local.get $size) (i32.const 118)))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (call $startup (local.get $size) (i32.const 99)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $a i32) (local $w i32) (local $i i32)
    (global.set $heap (i32.const 65536))
    (if (call $proxy_get_header_map_value (i32.const 0) (i32.const 1024) (i32.const 5) (i32.const 8) (i32.const 12))
      (then (return (i32.const 0))))
    (if (i32.ne (i32.load (i32.const 12)) (i32.const 2)) (then (return (i32.const 0))))
    (local.set $a (i32.load8_u (i32.load (i32.const 8))))
    (local.set $w (i32.load8_u (i32.add (i32.load (i32.const 8)) (i32.const 1))))
    (call $setmode (local.get $ctx) (i32.or (local.get $a) (i32.shl (local.get $w) (i32.const 8))))
    ;; xc: one host call
    (if (i32.and (i32.eq (local.get $a) (i32.const 120)) (i32.eq (local.get $w) (i32.const 99))) (then
      (call $addn (i32.const 1048) (i32.const 9) (call $hostcall))
      (return (i32.const 0))))
    ;; Hk: 10000 headers
    (if (i32.and (i32.eq (local.get $a) (i32.const 72)) (i32.eq (local.get $w) (i32.const 107))) (then
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $i) (i32.const 10000)))
        (drop (call $proxy_add_header_map_value (i32.const 0) (i32.const 1160) (i32.const 3) (i32.const 1164) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (return (i32.const 0))))
    ;; Hv: a 2 MiB value
    (if (i32.and (i32.eq (local.get $a) (i32.const 72)) (i32.eq (local.get $w) (i32.const 118))) (then
      (if (i32.eq (memory.grow (i32.const 40)) (i32.const -1)) (then (unreachable)))
      (memory.fill (i32.const 131072) (i32.const 97) (i32.const 2097152))
      (call $addn (i32.const 1048) (i32.const 9)
        (call $proxy_replace_header_map_value (i32.const 0) (i32.const 1168) (i32.const 5) (i32.const 131072) (i32.const 2097152)))
      (return (i32.const 0))))
    ;; r1: two local responses, two continues
    (if (i32.and (i32.eq (local.get $a) (i32.const 114)) (i32.eq (local.get $w) (i32.const 49))) (then
      (drop (call $proxy_send_local_response (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 1180) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1)))
      (drop (call $proxy_send_local_response (i32.const 402) (i32.const 0) (i32.const 0) (i32.const 1180) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1)))
      (drop (call $proxy_continue_stream (i32.const 0)))
      (drop (call $proxy_continue_stream (i32.const 0)))
      (return (i32.const 0))))
    ;; r2: continue twice, then Pause
    (if (i32.and (i32.eq (local.get $a) (i32.const 114)) (i32.eq (local.get $w) (i32.const 50))) (then
      (drop (call $proxy_continue_stream (i32.const 0)))
      (drop (call $proxy_continue_stream (i32.const 0)))
      (return (i32.const 1))))
    ;; r3 and <action>c: callout, pause
    (if (i32.or (i32.eq (local.get $w) (i32.const 99)) (i32.and (i32.eq (local.get $a) (i32.const 114)) (i32.eq (local.get $w) (i32.const 51)))) (then
      (if (call $callout (local.get $ctx)) (then (unreachable)))
      (return (i32.const 1))))
    ;; <action>t: the next tick misbehaves (once)
    (if (i32.eq (local.get $w) (i32.const 116)) (then
      (global.set $taction (local.get $a))
      (drop (call $proxy_set_tick_period_milliseconds (i32.const 50)))
      (return (i32.const 0))))
    ;; <action>q: queue_ready misbehaves
    (if (i32.eq (local.get $w) (i32.const 113)) (then
      (global.set $qaction (local.get $a))
      (drop (call $proxy_register_shared_queue (i32.const 1176) (i32.const 2) (i32.const 16)))
      (drop (call $proxy_enqueue_shared_queue (i32.load (i32.const 16)) (i32.const 1164) (i32.const 1)))
      (return (i32.const 0))))
    (if (local.tee $a (call $at (local.get $ctx) (i32.const 104))) (then
      (call $addn (i32.const 1064) (i32.const 11) (call $misbehave (local.get $a)))))
    (i32.const 0))

  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (drop (call $misbehave (call $at (local.get $ctx) (i32.const 98))))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $misbehave (call $at (local.get $ctx) (i32.const 72))))
    ;; r4: two local responses from the response phase
    (if (i32.eq (call $mode (local.get $ctx)) (i32.const 0x3472)) (then
      (drop (call $proxy_send_local_response (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 1180) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1)))
      (drop (call $proxy_send_local_response (i32.const 402) (i32.const 0) (i32.const 0) (i32.const 1180) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1)))))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (drop (call $misbehave (call $at (local.get $ctx) (i32.const 66))))
    (i32.const 0))
  (func $late (param $ctx i32)
    ;; r5: effects after the stream is over
    (if (i32.eq (call $mode (local.get $ctx)) (i32.const 0x3572)) (then
      (drop (call $proxy_continue_stream (i32.const 0)))
      (drop (call $proxy_close_stream (i32.const 0)))
      (drop (call $proxy_send_local_response (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 1180) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const -1))))))
  (func (export "proxy_on_log") (param $ctx i32)
    (call $late (local.get $ctx))
    (drop (call $misbehave (call $at (local.get $ctx) (i32.const 76)))))
  (func (export "proxy_on_done") (param $ctx i32) (result i32)
    (call $late (local.get $ctx))
    (drop (call $misbehave (call $at (local.get $ctx) (i32.const 100))))
    (i32.const 1))
  (func (export "proxy_on_delete") (param $ctx i32)
    (call $setmode (local.get $ctx) (i32.const 0)))

  (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
    (local $ctx i32)
    (local.set $ctx (i32.load (i32.add (i32.const 12288) (i32.shl (i32.and (local.get $token) (i32.const 1023)) (i32.const 2)))))
    (drop (call $misbehave (call $at (local.get $ctx) (i32.const 99))))
    (drop (call $proxy_set_effective_context (local.get $ctx)))
    ;; r3: the first response makes a second callout
    (if (i32.eq (call $mode (local.get $ctx)) (i32.const 0x3372)) (then
      (call $setmode (local.get $ctx) (i32.const 0x3373))
      (if (i32.eqz (call $callout (local.get $ctx))) (then (return)))))
    (if (i32.eq (call $mode (local.get $ctx)) (i32.const 0x3373)) (then
      (drop (call $proxy_add_header_map_value (i32.const 0) (i32.const 1184) (i32.const 8) (i32.const 1164) (i32.const 1)))))
    (drop (call $proxy_continue_stream (i32.const 0))))

  (func (export "proxy_on_tick") (param $root i32)
    (local $a i32)
    (drop (call $proxy_set_tick_period_milliseconds (i32.const 0)))
    (local.set $a (global.get $taction))
    (global.set $taction (i32.const 0))
    (drop (call $misbehave (local.get $a))))
  (func (export "proxy_on_queue_ready") (param $root i32) (param $qid i32)
    (local $a i32)
    (drop (call $proxy_dequeue_shared_queue (local.get $qid) (i32.const 8) (i32.const 12)))
    (local.set $a (global.get $qaction))
    (global.set $qaction (i32.const 0))
    (drop (call $misbehave (local.get $a))))
)
