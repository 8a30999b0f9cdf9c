(module
  (type $pair (;0;) (func (param i32) (result i32 i64)))
  (type (;1;) (func))
  (type (;2;) (func (param i32) (result i32)))
  (type (;3;) (func (result i32 i64)))
  (type (;4;) (func))
  (type (;5;) (func (param i32 i32 i32) (result i32)))
  (type (;6;) (func (param i32 i64 i32 i32)))
  (type (;7;) (func (param i32)))
  (table $t (;0;) 2 funcref)
  (table (;1;) 0 funcref)
  (table (;2;) 9 9 funcref)
  (memory (;0;) 1)
  (memory (;1;) 1 65536)
  (global $counter (;0;) (mut i32) i32.const 0)
  (global (;1;) (mut i32) i32.const 0)
  (global (;2;) (mut i32) i32.const 16)
  (global (;3;) (mut i32) i32.const 0)
  (global (;4;) (mut i64) i64.const 0)
  (export "multi" (func 3))
  (export "loop_params" (func 4))
  (export "if_params" (func 5))
  (export "block_params" (func 6))
  (export "vectors" (func 7))
  (export "branches" (func 8))
  (export "segments" (func 9))
  (export "dead_then" (func 10))
  (export "__weft_memory_0" (memory 0))
  (export "__weft_global_0" (global $counter))
  (export "__weft_table_0" (table $t))
  (export "__weft_dropped_0" (global 4))
  (export "__weft_state_memory" (memory 1))
  (export "__weft_state" (global 1))
  (export "__weft_sp" (global 2))
  (export "__weft_funcref_sp" (global 3))
  (export "__weft_funcref_stack" (table 1))
  (export "__weft_functions" (table 2))
  (export "__weft_start" (func $start))
  (export "__weft_restore_segments" (func 11))
  (elem $e (;0;) func $pair_up)
  (elem (;1;) (table 2) (i32.const 0) func $pair_up 3 4 5 6 7 8 9 10)
  (func $pair_up (;0;) (type $pair) (param i32) (result i32 i64)
    local.get 0
    local.get 0
    i64.extend_i32_u
  )
  (func $tick (;1;) (type 1)
    (local i64 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 1
      i32.const 16
      i32.const 1
      call 12
      local.set 1
      global.get 2
      local.set 2
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block ;; label = @3
          local.get 1
          if ;; label = @4
            block ;; label = @5
              local.get 1
              if ;; label = @6
                local.get 1
                i32.const 1
                i32.sub
                br_table 1 (;@5;) 0 (;@6;)
              end
              global.get $counter
              i32.const 1
              i32.add
              global.set $counter
            end
            loop ;; label = @5
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 5 (;@1;)
              end
            end
          else
            block ;; label = @5
              global.get $counter
              i32.const 1
              i32.add
              global.set $counter
            end
            loop ;; label = @5
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 5 (;@1;)
              end
            end
          end
        end
        return
      end
    end
    global.get 2
    local.set 2
    i32.const 1
    i32.const 16
    call 13
  )
  (func $start (;2;) (type 1)
    (local i64 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 2
      i32.const 16
      i32.const 2
      call 12
      local.set 1
      global.get 2
      local.set 2
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block ;; label = @3
          local.get 1
          if ;; label = @4
            block ;; label = @5
              local.get 1
              if ;; label = @6
                local.get 1
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            i32.const 0
            local.set 1
            call $tick
            global.get 1
            if ;; label = @5
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            i32.const 0
            local.set 1
            call $tick
            global.get 1
            if ;; label = @5
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
          end
        end
        return
      end
    end
    global.get 2
    local.set 2
    i32.const 2
    i32.const 16
    call 13
  )
  (func (;3;) (type $pair) (param $x i32) (result i32 i64)
    (local i64 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 3
      i32.const 32
      i32.const 1
      call 12
      local.set 2
      global.get 2
      local.set 3
      local.get 3
      i32.load 1
      local.set $x
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (type 3) (result i32 i64) ;; label = @3
          i32.const 0
          i32.load 1
          if ;; label = @4
            i32.const 1
            global.set 1
            i32.const 0
            i64.const 0
            br 2 (;@2;)
          end
          i32.const 7
          local.get $x
          call $pair_up
          drop
          i32.add
          i64.const 9
        end
        return
      end
      global.get 2
      local.get $x
      i32.store 1
    end
    global.get 2
    local.set 3
    i32.const 3
    i32.const 32
    call 13
    i32.const 0
    i64.const 0
  )
  (func (;4;) (type 2) (param $n i32) (result i32)
    (local i64 i32 i32 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 4
      i32.const 32
      i32.const 3
      call 12
      local.set 2
      global.get 2
      local.set 3
      local.get 3
      i32.load 1
      local.set $n
      local.get 3
      i32.load 1 offset=4
      local.set 4
      local.get 3
      i32.load 1 offset=8
      local.set 5
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 2
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 2
              if ;; label = @6
                global.get 2
                i32.load 1 offset=4
                local.set 4
                local.get 2
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.set 5
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 0
              local.set 4
            end
            local.get 4
            loop (type 2) (param i32) (result i32) ;; label = @5
              local.get 2
              if (type 7) (param i32) ;; label = @6
                drop
              else
                local.set 5
              end
              block ;; label = @6
                local.get 2
                if ;; label = @7
                  global.get 2
                  i32.load 1 offset=8
                  local.set 5
                  local.get 2
                  i32.const 2
                  i32.sub
                  br_table 0 (;@7;) 1 (;@6;) 0 (;@7;)
                end
                local.get 5
                i32.const 0
                local.set 2
                i32.const 0
                i32.load 1
                if ;; label = @7
                  global.get 2
                  local.get $n
                  i32.store 1
                  global.get 2
                  local.get 4
                  i32.store 1 offset=4
                  global.get 2
                  local.get 5
                  i32.store 1 offset=8
                  i32.const 1
                  global.set 1
                  i32.const 1
                  i64.const 0
                  br 6 (;@1;)
                end
                local.set 5
              end
              local.get 5
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                global.get 2
                local.get $n
                i32.store 1
                global.get 2
                local.get 4
                i32.store 1 offset=4
                global.get 2
                local.get 5
                i32.store 1 offset=8
                i32.const 2
                i64.const 0
                br 5 (;@1;)
              end
              local.get $n
              i32.add
              local.get $n
              i32.const 1
              i32.sub
              local.tee $n
              br_if 0 (;@5;)
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.set 5
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 0
              local.set 4
            end
            local.get 4
            loop (type 2) (param i32) (result i32) ;; label = @5
              block (type 7) (param i32) ;; label = @6
                local.set 5
              end
              block ;; label = @6
                local.get 5
                i32.const 0
                local.set 2
                i32.const 0
                i32.load 1
                if ;; label = @7
                  global.get 2
                  local.get $n
                  i32.store 1
                  global.get 2
                  local.get 4
                  i32.store 1 offset=4
                  global.get 2
                  local.get 5
                  i32.store 1 offset=8
                  i32.const 1
                  global.set 1
                  i32.const 1
                  i64.const 0
                  br 6 (;@1;)
                end
                local.set 5
              end
              local.get 5
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                global.get 2
                local.get $n
                i32.store 1
                global.get 2
                local.get 4
                i32.store 1 offset=4
                global.get 2
                local.get 5
                i32.store 1 offset=8
                i32.const 2
                i64.const 0
                br 5 (;@1;)
              end
              local.get $n
              i32.add
              local.get $n
              i32.const 1
              i32.sub
              local.tee $n
              br_if 0 (;@5;)
            end
          end
        end
        return
      end
      global.get 2
      local.get $n
      i32.store 1
      global.get 2
      local.get 4
      i32.store 1 offset=4
      global.get 2
      local.get 5
      i32.store 1 offset=8
    end
    global.get 2
    local.set 3
    i32.const 4
    i32.const 32
    call 13
    i32.const 0
  )
  (func (;5;) (type 2) (param $c i32) (result i32)
    (local i64 i32 i32 i32 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 5
      i32.const 32
      i32.const 3
      call 12
      local.set 2
      global.get 2
      local.set 3
      local.get 3
      i32.load 1
      local.set $c
      local.get 3
      i32.load 1 offset=4
      local.set 4
      local.get 3
      i32.load 1 offset=8
      local.set 5
      local.get 3
      i32.load 1 offset=12
      local.set 6
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 2
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 2
              if ;; label = @6
                global.get 2
                i32.load 1 offset=4
                local.set 4
                global.get 2
                i32.load 1 offset=8
                local.set 5
                local.get 2
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.tee 5
                local.set 6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 40
              local.get $c
              local.set 4
              local.set 5
            end
            local.get 5
            local.get 4
            if (type 2) (param i32) (result i32) ;; label = @5
              local.get 2
              if (type 7) (param i32) ;; label = @6
                drop
              else
                local.set 6
              end
              local.get 6
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                i32.const 0
                local.set $c
                i32.const 1
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 2
              i32.add
            else
              local.get 2
              if (type 7) (param i32) ;; label = @6
                drop
              else
                local.set 6
              end
              block ;; label = @6
                local.get 2
                if ;; label = @7
                  global.get 2
                  i32.load 1 offset=12
                  local.set 6
                  local.get 2
                  i32.const 3
                  i32.sub
                  br_table 1 (;@6;) 0 (;@7;)
                end
                local.get 6
                i32.const 3
                i32.sub
                local.set 6
              end
              local.get 6
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                i32.const 0
                local.set $c
                i32.const 2
                i64.const 0
                br 4 (;@2;)
              end
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.tee 5
                local.set 6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 40
              local.get $c
              local.set 4
              local.set 5
            end
            local.get 5
            local.get 4
            if (type 2) (param i32) (result i32) ;; label = @5
              block (type 7) (param i32) ;; label = @6
                local.set 6
              end
              local.get 6
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                i32.const 0
                local.set $c
                i32.const 1
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 2
              i32.add
            else
              block (type 7) (param i32) ;; label = @6
                local.set 6
              end
              block ;; label = @6
                local.get 6
                i32.const 3
                i32.sub
                local.set 6
              end
              local.get 6
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                i32.const 0
                local.set $c
                i32.const 2
                i64.const 0
                br 4 (;@2;)
              end
            end
          end
        end
        return
      end
      global.get 2
      local.get $c
      i32.store 1
      global.get 2
      local.get 4
      i32.store 1 offset=4
      global.get 2
      local.get 5
      i32.store 1 offset=8
      global.get 2
      local.get 6
      i32.store 1 offset=12
    end
    global.get 2
    local.set 3
    i32.const 5
    i32.const 32
    call 13
    i32.const 0
  )
  (func (;6;) (type 2) (param $x i32) (result i32)
    (local i64 i32 i32 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 6
      i32.const 32
      i32.const 2
      call 12
      local.set 2
      global.get 2
      local.set 3
      local.get 3
      i32.load 1
      local.set $x
      local.get 3
      i32.load 1 offset=4
      local.set 4
      local.get 3
      i32.load 1 offset=8
      local.set 5
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 2
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 2
              if ;; label = @6
                global.get 2
                i32.load 1 offset=4
                local.set 4
                local.get 2
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.set 5
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 1
              local.set 4
            end
            local.get 4
            block (type 2) (param i32) (result i32) ;; label = @5
              local.get 2
              if (type 7) (param i32) ;; label = @6
                drop
              else
                local.set 5
              end
              block ;; label = @6
                local.get 2
                if ;; label = @7
                  global.get 2
                  i32.load 1 offset=8
                  local.set 5
                  local.get 2
                  i32.const 2
                  i32.sub
                  br_table 1 (;@6;) 0 (;@7;)
                end
                local.get 5
                local.get $x
                i32.add
                local.set 5
              end
              local.get 5
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                i32.const 0
                local.set $x
                i32.const 1
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 3
              i32.mul
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.set 5
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 1
              local.set 4
            end
            local.get 4
            block (type 2) (param i32) (result i32) ;; label = @5
              block (type 7) (param i32) ;; label = @6
                local.set 5
              end
              block ;; label = @6
                local.get 5
                local.get $x
                i32.add
                local.set 5
              end
              local.get 5
              i32.const 0
              local.set 2
              call $tick
              global.get 1
              if ;; label = @6
                i32.const 0
                local.set $x
                i32.const 1
                i64.const 0
                br 4 (;@2;)
              end
              i32.const 3
              i32.mul
            end
          end
        end
        return
      end
      global.get 2
      local.get $x
      i32.store 1
      global.get 2
      local.get 4
      i32.store 1 offset=4
      global.get 2
      local.get 5
      i32.store 1 offset=8
    end
    global.get 2
    local.set 3
    i32.const 6
    i32.const 32
    call 13
    i32.const 0
  )
  (func (;7;) (type 2) (param $x i32) (result i32)
    (local $v v128) (local $f funcref) (local i64 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 7
      i32.const 48
      i32.const 2
      call 12
      local.set 4
      global.get 2
      local.set 5
      local.get 5
      v128.load 1
      local.set $v
      local.get 5
      i32.load 1 offset=16
      local.set $x
      global.get 3
      i32.const 1
      i32.sub
      local.tee 5
      global.set 3
      local.get 5
      i32.const 0
      i32.add
      table.get 1
      local.set $f
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 4
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 4
              if ;; label = @6
                global.get 2
                v128.load 1
                local.set $v
                local.get 4
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 4
              i32.const 0
              i32.load 1
              if ;; label = @6
                v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
                local.set $v
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              local.get $x
              i32x4.splat
              local.set $v
              ref.func $pair_up
              local.set $f
            end
            i32.const 0
            local.set 4
            call $tick
            global.get 1
            if ;; label = @5
              i32.const 0
              local.set $x
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
            i32.const 1
            local.get $f
            table.set $t
            local.get $v
            i32x4.extract_lane 3
          else
            block ;; label = @5
              i32.const 0
              local.set 4
              i32.const 0
              i32.load 1
              if ;; label = @6
                v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
                local.set $v
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
              local.get $x
              i32x4.splat
              local.set $v
              ref.func $pair_up
              local.set $f
            end
            i32.const 0
            local.set 4
            call $tick
            global.get 1
            if ;; label = @5
              i32.const 0
              local.set $x
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
            i32.const 1
            local.get $f
            table.set $t
            local.get $v
            i32x4.extract_lane 3
          end
        end
        return
      end
      global.get 2
      local.get $v
      v128.store 1
      global.get 2
      local.get $x
      i32.store 1 offset=16
    end
    global.get 2
    local.set 5
    global.get 3
    local.set 5
    table.size 1
    local.get 5
    i32.const 1
    i32.add
    i32.lt_u
    if ;; label = @1
      ref.null func
      local.get 5
      i32.const 1
      i32.add
      table.size 1
      i32.sub
      table.grow 1
      i32.const -1
      i32.eq
      if ;; label = @2
        unreachable
      end
    end
    local.get 5
    i32.const 0
    i32.add
    local.get $f
    table.set 1
    local.get 5
    i32.const 1
    i32.add
    global.set 3
    i32.const 7
    i32.const 48
    call 13
    i32.const 0
  )
  (func (;8;) (type 2) (param $i i32) (result i32)
    (local i64 i32 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 8
      i32.const 32
      i32.const 2
      call 12
      local.set 2
      global.get 2
      local.set 3
      local.get 3
      i32.load 1
      local.set $i
      local.get 3
      i32.load 1 offset=4
      local.set 4
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 2
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 2
              if ;; label = @6
                local.get 2
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.set 4
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            block (result i32) ;; label = @5
              block (result i32) ;; label = @6
                block ;; label = @7
                  local.get 2
                  if ;; label = @8
                    global.get 2
                    i32.load 1 offset=4
                    local.set 4
                    local.get 2
                    i32.const 2
                    i32.sub
                    br_table 1 (;@7;) 0 (;@8;)
                  end
                  i32.const 10
                  local.set 4
                end
                local.get 4
                i32.const 0
                local.set 2
                call $tick
                global.get 1
                if ;; label = @7
                  i32.const 1
                  i64.const 0
                  br 5 (;@2;)
                end
                local.get $i
                br_table 1 (;@5;) 0 (;@6;)
              end
              i32.const 20
              br 2 (;@3;)
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.set 4
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            block (result i32) ;; label = @5
              block (result i32) ;; label = @6
                block ;; label = @7
                  i32.const 10
                  local.set 4
                end
                local.get 4
                i32.const 0
                local.set 2
                call $tick
                global.get 1
                if ;; label = @7
                  i32.const 1
                  i64.const 0
                  br 5 (;@2;)
                end
                local.get $i
                br_table 1 (;@5;) 0 (;@6;)
              end
              i32.const 20
              br 2 (;@3;)
            end
          end
        end
        return
      end
      global.get 2
      local.get $i
      i32.store 1
      global.get 2
      local.get 4
      i32.store 1 offset=4
    end
    global.get 2
    local.set 3
    i32.const 8
    i32.const 32
    call 13
    i32.const 0
  )
  (func (;9;) (type 1)
    (local i64 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 9
      i32.const 16
      i32.const 2
      call 12
      local.set 1
      global.get 2
      local.set 2
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block ;; label = @3
          local.get 1
          if ;; label = @4
            block ;; label = @5
              local.get 1
              if ;; label = @6
                local.get 1
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            i32.const 0
            local.set 1
            call $tick
            global.get 1
            if ;; label = @5
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
            i32.const 0
            i32.const 0
            i32.const 5
            memory.init $d
            data.drop $d
            global.get 4
            i64.const 1
            i64.or
            global.set 4
            elem.drop $e
            global.get 4
            i64.const 2
            i64.or
            global.set 4
          else
            block ;; label = @5
              i32.const 0
              local.set 1
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            i32.const 0
            local.set 1
            call $tick
            global.get 1
            if ;; label = @5
              i32.const 1
              i64.const 0
              br 3 (;@2;)
            end
            i32.const 0
            i32.const 0
            i32.const 5
            memory.init $d
            data.drop $d
            global.get 4
            i64.const 1
            i64.or
            global.set 4
            elem.drop $e
            global.get 4
            i64.const 2
            i64.or
            global.set 4
          end
        end
        return
      end
    end
    global.get 2
    local.set 2
    i32.const 9
    i32.const 16
    call 13
  )
  (func (;10;) (type 2) (param $c i32) (result i32)
    (local i64 i32 i32 i32 i32)
    global.get 1
    if ;; label = @1
      i32.const 10
      i32.const 32
      i32.const 3
      call 12
      local.set 2
      global.get 2
      local.set 3
      local.get 3
      i32.load 1
      local.set $c
      local.get 3
      i32.load 1 offset=4
      local.set 4
      local.get 3
      i32.load 1 offset=8
      local.set 5
    end
    block (type 3) (result i32 i64) ;; label = @1
      block (type 3) (result i32 i64) ;; label = @2
        block (result i32) ;; label = @3
          local.get 2
          if (result i32) ;; label = @4
            block ;; label = @5
              local.get 2
              if ;; label = @6
                local.get 2
                i32.const 1
                i32.sub
                br_table 0 (;@6;) 1 (;@5;) 1 (;@5;) 0 (;@6;)
              end
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.set 5
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            block (result i32) ;; label = @5
              block ;; label = @6
                local.get 2
                if ;; label = @7
                  global.get 2
                  i32.load 1 offset=4
                  local.set 4
                  local.get 2
                  i32.const 2
                  i32.sub
                  br_table 1 (;@6;) 1 (;@6;) 0 (;@7;)
                end
                local.get $c
                local.set 4
              end
              local.get 4
              if (result i32) ;; label = @6
                i32.const 1
                br 1 (;@5;)
              else
                block ;; label = @7
                  local.get 2
                  if ;; label = @8
                    global.get 2
                    i32.load 1 offset=8
                    local.set 5
                    local.get 2
                    i32.const 2
                    i32.sub
                    br_table 0 (;@8;) 1 (;@7;) 0 (;@8;)
                  end
                  i32.const 0
                  local.set 2
                  call $tick
                  global.get 1
                  if ;; label = @8
                    i32.const 0
                    local.tee $c
                    local.set 5
                    i32.const 1
                    i64.const 0
                    br 6 (;@2;)
                  end
                  i32.const 5
                  local.set 5
                end
                local.get 5
                i32.const 0
                local.set 2
                call $tick
                global.get 1
                if ;; label = @7
                  i32.const 0
                  local.set $c
                  i32.const 2
                  i64.const 0
                  br 5 (;@2;)
                end
                i32.const 6
                i32.add
              end
            end
          else
            block ;; label = @5
              i32.const 0
              local.set 2
              i32.const 0
              i32.load 1
              if ;; label = @6
                i32.const 0
                local.tee 4
                local.set 5
                i32.const 1
                global.set 1
                i32.const 0
                i64.const 0
                br 4 (;@2;)
              end
            end
            block (result i32) ;; label = @5
              block ;; label = @6
                local.get $c
                local.set 4
              end
              local.get 4
              if (result i32) ;; label = @6
                i32.const 1
                br 1 (;@5;)
              else
                block ;; label = @7
                  i32.const 0
                  local.set 2
                  call $tick
                  global.get 1
                  if ;; label = @8
                    i32.const 0
                    local.tee $c
                    local.set 5
                    i32.const 1
                    i64.const 0
                    br 6 (;@2;)
                  end
                  i32.const 5
                  local.set 5
                end
                local.get 5
                i32.const 0
                local.set 2
                call $tick
                global.get 1
                if ;; label = @7
                  i32.const 0
                  local.set $c
                  i32.const 2
                  i64.const 0
                  br 5 (;@2;)
                end
                i32.const 6
                i32.add
              end
            end
          end
        end
        return
      end
      global.get 2
      local.get $c
      i32.store 1
      global.get 2
      local.get 4
      i32.store 1 offset=4
      global.get 2
      local.get 5
      i32.store 1 offset=8
    end
    global.get 2
    local.set 3
    i32.const 10
    i32.const 32
    call 13
    i32.const 0
  )
  (func (;11;) (type 4)
    global.get 4
    i64.const 1
    i64.and
    i64.const 0
    i64.ne
    if ;; label = @1
      data.drop $d
    end
    global.get 4
    i64.const 2
    i64.and
    i64.const 0
    i64.ne
    if ;; label = @1
      elem.drop $e
    end
  )
  (func (;12;) (type 5) (param i32 i32 i32) (result i32)
    (local i32 i32)
    global.get 2
    local.get 1
    i32.const 16
    i32.add
    i32.lt_u
    if ;; label = @1
      unreachable
    end
    global.get 2
    i32.const 16
    i32.sub
    local.tee 3
    i32.load 1
    local.get 0
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 3
    i32.load 1 offset=12
    local.get 1
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 3
    i32.load 1 offset=4
    local.tee 4
    local.get 2
    i32.ge_u
    if ;; label = @1
      unreachable
    end
    global.get 2
    local.get 1
    i32.sub
    global.set 2
    global.get 2
    i32.const 16
    i32.eq
    if ;; label = @1
      i32.const 0
      global.set 1
    end
    local.get 4
    i32.const 1
    i32.add
  )
  (func (;13;) (type 6) (param i32 i64 i32 i32)
    (local i32)
    global.get 2
    local.get 3
    i32.add
    local.tee 4
    global.set 2
    local.get 4
    i32.const 16
    i32.sub
    local.tee 4
    local.get 2
    i32.store 1
    local.get 4
    local.get 0
    i32.store 1 offset=4
    local.get 4
    local.get 1
    i32.wrap_i64
    i32.store 1 offset=8
    local.get 4
    local.get 3
    i32.store 1 offset=12
    i32.const 16384
    call 14
  )
  (func (;14;) (type 7) (param i32)
    global.get 2
    i64.extend_i32_u
    local.get 0
    i64.extend_i32_u
    i64.add
    i64.const 65535
    i64.add
    i64.const 16
    i64.shr_u
    memory.size 1
    i64.extend_i32_u
    i64.gt_u
    if ;; label = @1
      global.get 2
      i64.extend_i32_u
      local.get 0
      i64.extend_i32_u
      i64.add
      i64.const 65535
      i64.add
      i64.const 16
      i64.shr_u
      memory.size 1
      i64.extend_i32_u
      i64.sub
      i32.wrap_i64
      memory.grow 1
      i32.const -1
      i32.eq
      if ;; label = @2
        unreachable
      end
    end
  )
  (data $d (;0;) "hello")
)
