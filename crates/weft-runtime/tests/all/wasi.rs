//! The WASI preview1 subset: what each function answers, and that bad
//! guest pointers give errors, never traps.

use crate::{Ended, load, records, run_to_end, runtime, wasi_module};
use std::time::{SystemTime, UNIX_EPOCH};
use weft_runtime::{Budget, Error, Script, ScriptOptions, Status, Stdio};

const EBADF: i64 = 8;
const EFAULT: i64 = 21;
const EINVAL: i64 = 28;
const ENOSYS: i64 = 52;
const ESPIPE: i64 = 70;

fn run_body(body: &str, options: ScriptOptions) -> Ended {
    let runtime = runtime();
    let module = load(&runtime, &wasi_module(body));
    let ended = run_to_end(&runtime, &module, options);
    assert_eq!(ended.status, Status::Exited(0), "{ended:?}");
    ended
}

/// A body that gets a list of strings with `sizes` / `get` and writes
/// count and size, then the pointer array, then the buffer to stdout.
fn strings_body(sizes: &str, get: &str) -> String {
    format!(
        r#"
    (call $record (call ${sizes} (i32.const 0) (i32.const 4)))
    (call $record (call ${get} (i32.const 16) (i32.const 256)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 8)))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.mul (i32.load (i32.const 0)) (i32.const 4))))
    (drop (call $write (i32.const 1) (i32.const 256) (i32.load (i32.const 4))))"#
    )
}

/// Checks what `strings_body` printed against `expected`.
fn check_strings(stdout: &[u8], expected: &[String]) {
    let joined: Vec<u8> = expected.iter().flat_map(|s| s.bytes().chain([0])).collect();
    let word = |at: usize| u32::from_le_bytes(stdout[at..at + 4].try_into().unwrap());
    assert_eq!(word(0) as usize, expected.len());
    assert_eq!(word(4) as usize, joined.len());
    let mut at = 256;
    for (i, s) in expected.iter().enumerate() {
        assert_eq!(word(8 + 4 * i), at, "pointer of string {i}");
        at += s.len() as u32 + 1;
    }
    assert_eq!(&stdout[8 + 4 * expected.len()..], &joined[..]);
}

#[test]
fn args() {
    let args: Vec<String> = ["prog", "hello", "wörld", ""].map(String::from).into();
    let options = ScriptOptions {
        args: args.clone(),
        ..ScriptOptions::default()
    };
    let ended = run_body(&strings_body("args_sizes_get", "args_get"), options);
    assert_eq!(records(&ended.stderr), [0, 0]);
    check_strings(&ended.stdout, &args);
}

#[test]
fn environ() {
    let env = vec![
        ("HOME".to_string(), "/nowhere".to_string()),
        ("EQ".to_string(), "a=b".to_string()),
    ];
    let options = ScriptOptions {
        env: env.clone(),
        ..ScriptOptions::default()
    };
    let ended = run_body(&strings_body("environ_sizes_get", "environ_get"), options);
    assert_eq!(records(&ended.stderr), [0, 0]);
    let expected: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    check_strings(&ended.stdout, &expected);
}

#[test]
fn fd_write_to_stdout_and_stderr() {
    let ended = run_body(
        r#"
    (i32.store (i32.const 100) (i32.const 0x6c6c6568)) ;; "hell"
    (i32.store8 (i32.const 104) (i32.const 0x6f))      ;; "o"
    ;; Two iovecs to stdout: "hell" and "o", then one to stderr.
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 4))
    (i32.store (i32.const 8) (i32.const 104))
    (i32.store (i32.const 12) (i32.const 1))
    (call $record (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 20)))
    (call $record (i32.load (i32.const 20)))
    (call $record (call $write (i32.const 2) (i32.const 101) (i32.const 3)))
    (call $record (i32.load (i32.const 0x7008)))
    ;; No iovecs at all: nothing written, no error.
    (call $record (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 20)))
    (call $record (i32.load (i32.const 20)))
    ;; Writing to stdin or to a descriptor that is not open.
    (call $record (call $write (i32.const 0) (i32.const 100) (i32.const 1)))
    (call $record (call $write (i32.const 7) (i32.const 100) (i32.const 1)))"#,
        ScriptOptions::default(),
    );
    assert_eq!(ended.stdout, b"hello");
    let (text, recorded) = ended.stderr.split_at(3);
    assert_eq!(text, b"ell");
    assert_eq!(records(recorded), [0, 5, 0, 3, 0, 0, EBADF, EBADF]);
}

#[test]
fn fd_read_from_stdin() {
    let input = b"a line of standard input, read four bytes at a time\n".to_vec();
    let runtime = runtime();
    let module = load(
        &runtime,
        &wasi_module(
            r#"
    ;; iovecs: an empty one, then 4 bytes at 200; read and echo until EOF.
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 200))
    (i32.store (i32.const 12) (i32.const 4))
    (block $eof
      (loop $more
        (call $record (call $fd_read (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 20)))
        (br_if $eof (i32.eqz (i32.load (i32.const 20))))
        (drop (call $write (i32.const 1) (i32.const 200) (i32.load (i32.const 20))))
        (br $more)))
    (call $record (call $fd_read (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 20)))"#,
        ),
    );
    let (stdio, output) = Stdio::captured();
    let stdio = Stdio {
        stdin: Box::new(std::io::Cursor::new(input.clone())),
        ..stdio
    };
    let mut script = Script::spawn(&runtime, &module, ScriptOptions::default(), stdio).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
    assert_eq!(output.stdout(), input);
    let reads = input.len().div_ceil(4) + 1;
    let mut expected = vec![0; reads];
    expected.push(EBADF);
    assert_eq!(records(&output.stderr()), expected);
}

#[test]
fn fdstat_seek_close_prestat() {
    let ended = run_body(
        r#"
    (call $record (call $fd_fdstat_get (i32.const 0) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))   ;; filetype, flags
    (call $record64 (i64.load (i32.const 8)))   ;; rights
    (call $record (call $fd_fdstat_get (i32.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 8)))
    (call $record (call $fd_fdstat_get (i32.const 3) (i32.const 0)))
    (call $record (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 0)))
    (call $record (call $fd_seek (i32.const 9) (i64.const 0) (i32.const 0) (i32.const 0)))
    (call $record (call $fd_prestat_get (i32.const 3) (i32.const 0)))
    (call $record (call $fd_prestat_dir_name (i32.const 3) (i32.const 0) (i32.const 10)))
    ;; Close stdout: writing to it, seeking it or closing it again is EBADF.
    (call $record (call $fd_close (i32.const 1)))
    (call $record (call $write (i32.const 1) (i32.const 0) (i32.const 1)))
    (call $record (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 0)))
    (call $record (call $fd_close (i32.const 1)))
    (call $record (call $fd_fdstat_get (i32.const 1) (i32.const 0)))
    (call $record (call $fd_close (i32.const -1)))"#,
        ScriptOptions::default(),
    );
    const CHARACTER_DEVICE: i64 = 2;
    const FD_READ: i64 = 1 << 1;
    const FD_WRITE: i64 = 1 << 6;
    let r = records(&ended.stderr);
    assert_eq!(r[0], 0);
    assert_eq!(r[1] & 0xff, CHARACTER_DEVICE);
    assert_eq!(
        r[2] & (FD_READ | FD_WRITE),
        FD_READ,
        "stdin's rights {:#x}",
        r[2]
    );
    assert_eq!(r[3], 0);
    assert_eq!(
        r[4] & (FD_READ | FD_WRITE),
        FD_WRITE,
        "stdout's rights {:#x}",
        r[4]
    );
    assert_eq!(
        r[5..],
        [
            EBADF, ESPIPE, EBADF, EBADF, EBADF, 0, EBADF, EBADF, EBADF, EBADF, EBADF
        ]
    );
    assert_eq!(ended.stdout, b"");
}

#[test]
fn unimplemented_preview1_function_answers_enosys() {
    let ended = run_body(
        r#"
    (call $record (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
                                   (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0)
                                   (i32.const 0)))"#,
        ScriptOptions::default(),
    );
    assert_eq!(records(&ended.stderr), [ENOSYS]);
}

#[test]
fn bad_pointers_give_efault_and_never_trap() {
    let ended = run_body(
        r#"
    (call $record (call $args_sizes_get (i32.const 0xfffffff0) (i32.const 0)))
    (call $record (call $args_sizes_get (i32.const 0) (i32.const 65533)))
    (call $record (call $args_get (i32.const 65535) (i32.const 0)))
    (call $record (call $args_get (i32.const 0) (i32.const 65534)))
    (call $record (call $environ_sizes_get (i32.const -1) (i32.const 0)))
    (call $record (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 65532)))
    (call $record (call $clock_res_get (i32.const 1) (i32.const 65529)))
    (call $record (call $random_get (i32.const 65530) (i32.const 7)))
    (call $record (call $random_get (i32.const 0) (i32.const -1)))
    ;; An iovec array out of bounds, then an iovec pointing out of bounds.
    (call $record (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 0)))
    (call $record (call $write (i32.const 1) (i32.const 65535) (i32.const 2)))
    (call $record (call $write (i32.const 1) (i32.const 0xfffffffe) (i32.const 4)))
    (call $record (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0x20000000) (i32.const 0)))
    (call $record (call $fd_read (i32.const 0) (i32.const 65530) (i32.const 1) (i32.const 0)))
    (call $record (call $fd_fdstat_get (i32.const 1) (i32.const 65520)))
    (call $record (call $poll_oneoff (i32.const 65500) (i32.const 0) (i32.const 1) (i32.const 0)))
    (call $record (call $poll_oneoff (i32.const 0) (i32.const 65530) (i32.const 1) (i32.const 0)))
    ;; A bad clock id is EINVAL, not EFAULT.
    (call $record (call $clock_time_get (i32.const 9) (i64.const 0) (i32.const 0)))
    (call $record (call $clock_res_get (i32.const 9) (i32.const 0)))"#,
        ScriptOptions {
            args: vec!["a-long-program-name".into()],
            ..ScriptOptions::default()
        },
    );
    let mut expected = vec![EFAULT; 17];
    expected.extend([EINVAL, EINVAL]);
    assert_eq!(records(&ended.stderr), expected);
    assert_eq!(ended.stdout, b"");
}

#[test]
fn clocks() {
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let ended = run_body(
        r#"
    (local $i i32)
    (call $record (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))
    (call $record (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))
    (loop $spin (br_if $spin (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                       (i32.const 100000))))
    (call $record (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))
    (call $record (call $clock_time_get (i32.const 2) (i64.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))
    (call $record (call $clock_res_get (i32.const 1) (i32.const 0)))
    (call $record64 (i64.load (i32.const 0)))"#,
        ScriptOptions::default(),
    );
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let r = records(&ended.stderr);
    assert_eq!([r[0], r[2], r[4], r[6], r[8]], [0; 5]);
    let realtime = r[1] as u128;
    assert!(
        before.as_nanos() <= realtime && realtime <= after.as_nanos(),
        "realtime {realtime} outside {before:?}..{after:?}"
    );
    assert!(
        r[5] > r[3],
        "monotonic clock went from {} to {}",
        r[3],
        r[5]
    );
    // The process clock counts fuel: at least one unit per iteration.
    assert!(r[7] >= 100_000, "cpu time {}", r[7]);
    assert_eq!(r[9], 1, "resolution");
}

#[test]
fn random_get_fills_buffers_differently() {
    let ended = run_body(
        r#"
    (call $record (call $random_get (i32.const 0) (i32.const 32)))
    (call $record (call $random_get (i32.const 32) (i32.const 32)))
    (call $record (call $random_get (i32.const 64) (i32.const 0)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 65)))"#,
        ScriptOptions::default(),
    );
    assert_eq!(records(&ended.stderr), [0, 0, 0]);
    let (first, second) = ended.stdout[..64].split_at(32);
    assert_ne!(first, second);
    assert_ne!(first, [0; 32]);
    assert_eq!(ended.stdout[64], 0, "a zero-length request writes nothing");
}

#[test]
fn unknown_imports_are_refused_at_load() {
    let runtime = runtime();
    let refused = [
        (
            r#"(import "env" "foo" (func (param i32)))"#,
            "env::foo",
            "function",
        ),
        (r#"(import "env" "mem" (memory 1))"#, "env::mem", "memory"),
        (r#"(import "env" "g" (global i32))"#, "env::g", "global"),
        // A preview1 name with a signature that is not preview1's.
        (
            r#"(import "wasi_snapshot_preview1" "fd_sync" (func (param i32)))"#,
            "wasi_snapshot_preview1::fd_sync",
            "function",
        ),
    ];
    for (import, name, kind) in refused {
        let wasm = wat::parse_str(format!("(module {import} (func (export \"_start\")))")).unwrap();
        match runtime.load(&wasm) {
            Err(e @ Error::UnknownImport { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&format!("`{name}`")), "{message}");
                assert!(message.contains(kind), "{message}");
            }
            other => panic!("{import}: expected an unknown import, got {other:?}"),
        }
    }
}
