;; Counts primes by trial division, forever. Memory word 0 holds how many
;; primes were found, word 4 the last one.
(module
  (memory (export "memory") 1)
  (func $is_prime (param $n i32) (result i32) (local $d i32)
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i32.const 0))))
    (local.set $d (i32.const 2))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.mul (local.get $d) (local.get $d)) (local.get $n)))
        (if (i32.eqz (i32.rem_u (local.get $n) (local.get $d))) (then (return (i32.const 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $next)))
    (i32.const 1))
  (func (export "_start") (local $n i32)
    (local.set $n (i32.const 2))
    (loop $forever
      (if (call $is_prime (local.get $n))
        (then
          (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
          (i32.store (i32.const 4) (local.get $n))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $forever)))
)
