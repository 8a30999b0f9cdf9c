;; Nested loops, a block with a result, an if condition live across a
;; call, and operand-stack values below a call.
(module
  (func $g (param i32) (result i32) (local.get 0))
  (func $h (param i32) (result i32)
    (call $g (local.get 0)))
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done (result i32)
      (loop $outer
        (local.set $i (i32.const 0))
        (loop $inner
          (local.set $acc (i32.add (local.get $acc) (local.get $i)))
          (br_if $inner (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 3))))
        (br_if $outer (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
      (i32.add (i32.const 100) (call $h (local.get $acc)))))
  (func (export "leaf") (param i32) (result i32)
    (i32.mul (local.get 0) (local.get 0)))
)
