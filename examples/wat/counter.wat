;; counter: logs `count 1` .. `count 10`, one line every 10 ms. The last
;; count is kept in the key-value store under "count" (as decimal text), so
;; a restarted copy goes on where it stopped. The limit is fixed (this
;; example reads no arguments).
(module
  (import "weft" "log" (func $log (param i32 i32)))
  (import "weft" "sleep" (func $sleep (param i64)))
  (import "weft" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "weft" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))

  ;; Memory: the key at 0; the line "count <digits>" at 16, so the digits
  ;; (also the stored value) start at 22; the value read back at 64.
  (memory (export "memory") 1)
  (data (i32.const 0) "count")
  (data (i32.const 16) "count ")

  (global $limit i64 (i64.const 10))

  ;; Writes the decimal digits of $n at $at; returns how many there are.
  (func $format (param $n i64) (param $at i32) (result i32)
    (local $len i32) (local $low i32) (local $high i32) (local $byte i32)
    ;; The digits, lowest first...
    (loop $digit
      (i32.store8
        (i32.add (local.get $at) (local.get $len))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $n) (i64.const 0))))
    ;; ...then reversed in place.
    (local.set $low (local.get $at))
    (local.set $high (i32.sub (i32.add (local.get $at) (local.get $len)) (i32.const 1)))
    (block $reversed
      (loop $swap
        (br_if $reversed (i32.ge_u (local.get $low) (local.get $high)))
        (local.set $byte (i32.load8_u (local.get $low)))
        (i32.store8 (local.get $low) (i32.load8_u (local.get $high)))
        (i32.store8 (local.get $high) (local.get $byte))
        (local.set $low (i32.add (local.get $low) (i32.const 1)))
        (local.set $high (i32.sub (local.get $high) (i32.const 1)))
        (br $swap)))
    (local.get $len))

  ;; The decimal number in the $len bytes at $at, or 0 if they are not one.
  (func $parse (param $at i32) (param $len i32) (result i64)
    (local $n i64) (local $digit i32) (local $end i32)
    (if (i32.eqz (local.get $len))
      (then (return (i64.const 0))))
    (local.set $end (i32.add (local.get $at) (local.get $len)))
    (loop $next
      (local.set $digit (i32.sub (i32.load8_u (local.get $at)) (i32.const 48)))
      (if (i32.gt_u (local.get $digit) (i32.const 9))
        (then (return (i64.const 0))))
      (local.set $n
        (i64.add
          (i64.mul (local.get $n) (i64.const 10))
          (i64.extend_i32_u (local.get $digit))))
      (local.set $at (i32.add (local.get $at) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $at) (local.get $end))))
    (local.get $n))

  (func (export "_start")
    (local $count i64) (local $len i32)
    ;; Go on from the stored count, if there is one (and it fits).
    (local.set $len (call $kv_get (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 32)))
    (if (i32.and
          (i32.ge_s (local.get $len) (i32.const 0))
          (i32.le_s (local.get $len) (i32.const 32)))
      (then (local.set $count (call $parse (i32.const 64) (local.get $len)))))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $count) (global.get $limit)))
        (local.set $count (i64.add (local.get $count) (i64.const 1)))
        (local.set $len (call $format (local.get $count) (i32.const 22)))
        (call $log (i32.const 16) (i32.add (i32.const 6) (local.get $len)))
        (drop (call $kv_set (i32.const 0) (i32.const 5) (i32.const 22) (local.get $len)))
        (if (i64.lt_u (local.get $count) (global.get $limit))
          (then (call $sleep (i64.const 10000000))))
        (br $next)))))
