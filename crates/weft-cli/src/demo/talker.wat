;; Says "hello #N" on its standard output every 200 ms, forever: memory
;; word 0 counts the messages.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "hello #")
  ;; Writes the decimal digits of $n ending just before $end; returns
  ;; where they start.
  (func $digits (param $n i32) (param $end i32) (result i32)
    (loop $next
      (local.set $end (i32.sub (local.get $end) (i32.const 1)))
      (i32.store8 (local.get $end)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $next (local.get $n)))
    (local.get $end))
  (func (export "_start") (local $start i32)
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const 200000000))
    (loop $forever
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      ;; "hello #" is copied right before the digits, which end at 320.
      (i32.store8 (i32.const 320) (i32.const 10))
      (local.set $start (call $digits (i32.load (i32.const 0)) (i32.const 320)))
      (local.set $start (i32.sub (local.get $start) (i32.const 7)))
      (memory.copy (local.get $start) (i32.const 256) (i32.const 7))
      ;; iovec at 16: the message, up to and with the newline.
      (i32.store (i32.const 16) (local.get $start))
      (i32.store (i32.const 20) (i32.sub (i32.const 321) (local.get $start)))
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 8)))
      (br $forever))))
