;; Exercises the instruction encodings the deadline instrumentation must
;; skip exactly (immediates of every shape: block types with params and as
;; type indices, br_table, call_indirect, memargs, constants, select t,
;; reference types, bulk memory, saturating truncation, sign extension,
;; SIMD lanes and shuffles, multi-value), with loops between the groups.
;; It has 4 functions and 3 loops. $run(n) returns a checksum that the
;; instrumentation must not change. Build:
;;   wat2wasm --debug-names opcodes.wat -o opcodes.wasm
(module
  (type $bin (func (param i32 i32) (result i32)))
  (table $t 2 funcref)
  (elem (i32.const 0) $add $mul)
  (memory 1)
  (global $g (mut i64) (i64.const -123456789012))
  (data (i32.const 64) "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10")
  (func $add (type $bin) local.get 0 local.get 1 i32.add)
  (func $mul (type $bin) local.get 0 local.get 1 i32.mul)
  (func $pair (param i32) (result i32 i32) local.get 0 i32.const 3)
  (func (export "run") (param $n i32) (result i32)
    (local $acc i32) (local $i i32) (local $f f64) (local $v v128) (local $r funcref)
    ;; a loop with a parameter and a result
    local.get $n
    loop $l1 (param i32) (result i32)
      i32.const 1
      i32.add
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 5
      i32.lt_u
      br_if $l1
    end
    local.set $acc
    ;; br_table in a loop
    i32.const 0
    local.set $i
    loop $l2
      block $b2
        block $b1
          block $b0
            local.get $i
            i32.const 3
            i32.rem_u
            br_table $b0 $b1 $b2
          end
          local.get $acc
          i32.const 3
          i32.add
          local.set $acc
          br $b2
        end
        local.get $acc
        i32.const 5
        i32.xor
        local.set $acc
      end
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 6
      i32.lt_u
      br_if $l2
    end
    ;; call_indirect, memargs, constants, saturating truncation
    local.get $acc
    i32.const 9
    local.get $n
    i32.const 1
    i32.and
    call_indirect (type $bin)
    local.set $acc
    i32.const 64
    i64.load offset=2 align=1
    global.get $g
    i64.add
    i64.const 0x7fffffffffffffff
    i64.and
    i32.wrap_i64
    local.get $acc
    i32.add
    local.set $acc
    f64.const 3.75
    local.set $f
    local.get $f
    f32.const -2.5
    f64.promote_f32
    f64.mul
    i32.trunc_sat_f64_s
    local.get $acc
    i32.add
    local.set $acc
    ;; select t, reference types, sign extension, tables
    local.get $acc
    i32.const 100
    local.get $n
    select (result i32)
    i32.extend8_s
    local.get $acc
    i32.add
    local.set $acc
    ref.func $add
    local.set $r
    local.get $r
    ref.is_null
    table.size $t
    i32.add
    i32.const 1
    table.get $t
    ref.is_null
    i32.add
    local.get $acc
    i32.add
    local.set $acc
    ;; bulk memory in a loop
    i32.const 0
    local.set $i
    loop $l3
      i32.const 256
      local.get $i
      i32.add
      i32.const 64
      i32.const 16
      memory.copy
      i32.const 512
      local.get $i
      i32.const 16
      memory.fill
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 4
      i32.lt_u
      br_if $l3
    end
    i32.const 259
    i32.load8_u
    i32.const 514
    i32.load16_u offset=1
    i32.add
    local.get $acc
    i32.add
    local.set $acc
    ;; SIMD
    i32.const 64
    v128.load
    v128.const i32x4 1 2 3 4
    i32x4.add
    local.tee $v
    local.get $v
    i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
    local.get $n
    i32x4.replace_lane 2
    local.set $v
    i32.const 64
    local.get $v
    v128.load8_lane offset=3 5
    i32x4.extract_lane 1
    local.get $acc
    i32.add
    local.set $acc
    i32.const 1024
    local.get $v
    v128.store offset=16
    i32.const 1040
    i32.load
    local.get $acc
    i32.xor
    local.set $acc
    ;; multi-value call, a block typed by index, if/else, memory.size
    local.get $n
    call $pair
    i32.add
    local.get $acc
    block (type $bin)
      i32.add
    end
    local.get $n
    if (result i32)
      memory.size
    else
      i32.const 0
      memory.grow
    end
    i32.add
    local.set $acc
    local.get $acc))
