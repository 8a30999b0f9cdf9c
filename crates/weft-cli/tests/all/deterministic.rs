//! `weft run --deterministic`: a C program that reads the clocks, draws
//! random bytes, sleeps and makes NaNs prints the same bytes straight and
//! when stopped and resumed in many processes.

use crate::util::{stderr, weft};
use weft_conformance::programs::{Target, Toolchain};

const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    uint64_t acc = 1;
    volatile float zero = 0.0f;
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 200000; i++) acc = acc * 6364136223846793005ULL + i;
        struct timespec mono, real;
        clock_gettime(CLOCK_MONOTONIC, &mono);
        clock_gettime(CLOCK_REALTIME, &real);
        unsigned char bytes[8];
        getentropy(bytes, sizeof bytes);
        float nan = zero / zero;
        uint32_t bits;
        memcpy(&bits, &nan, sizeof bits);
        printf("%d acc=%llu mono=%lld.%09ld real=%lld random=%02x%02x%02x%02x nan=%08x\n",
               round, (unsigned long long)acc, (long long)mono.tv_sec, mono.tv_nsec,
               (long long)real.tv_sec, bytes[0], bytes[1], bytes[2], bytes[3], bits);
        if (round % 4 == 3) usleep(250000);
    }
    return 0;
}
"#;

#[test]
fn stopped_and_resumed_runs_print_what_a_straight_run_prints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("clocks.c");
    std::fs::write(&source, PROGRAM).expect("write source");
    let toolchain = Toolchain::new(dir.path().join("build"));
    let wasm = toolchain
        .compile(&source, Target::Wasm)
        .expect("clang build");
    let wasm = wasm.to_str().expect("utf-8");

    let straight = weft(&["run", "--deterministic", "--seed", "7", wasm]);
    assert_eq!(straight.status.code(), Some(0), "{}", stderr(&straight));
    let text = String::from_utf8_lossy(&straight.stdout).into_owned();
    assert_eq!(text.lines().count(), 12, "{text}");
    // The sleeps show on the virtual clock: a quarter second each.
    let line = |n: usize| text.lines().nth(n).expect("line").to_string();
    assert!(line(3).contains("mono=0.00"), "{text}");
    assert!(line(4).contains("mono=0.25"), "{text}");
    assert!(line(11).contains("mono=0.50"), "{text}");

    let again = weft(&["run", "--deterministic", "--seed", "7", wasm]);
    assert_eq!(
        again.stdout, straight.stdout,
        "a second straight run differs"
    );
    let other_seed = weft(&["run", "--deterministic", "--seed", "8", wasm]);
    assert_ne!(
        other_seed.stdout, straight.stdout,
        "the seed changes nothing"
    );

    let mut stdout = Vec::new();
    let mut previous: Option<String> = None;
    for i in 0..25 {
        let snapshot = dir.path().join(format!("s{i}.snap"));
        let snapshot = snapshot.to_str().expect("utf-8").to_string();
        // About 5M units of fuel in all; the program uses about 7M.
        let step = (150_000 + i * 5_000).to_string();
        let out = match &previous {
            None => weft(&[
                "run",
                "--deterministic",
                "--seed",
                "7",
                "--stop-after",
                &step,
                "--save",
                &snapshot,
                wasm,
            ]),
            Some(p) => weft(&[
                "resume",
                "--slice",
                "3001",
                "--stop-after",
                &step,
                "--save",
                &snapshot,
                p,
            ]),
        };
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("saved to"),
            "step {i} did not stop: {}",
            stderr(&out)
        );
        stdout.extend(out.stdout);
        previous = Some(snapshot);
    }
    let last = weft(&["resume", previous.as_deref().expect("a snapshot")]);
    assert_eq!(last.status.code(), Some(0), "{}", stderr(&last));
    stdout.extend(last.stdout);
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        text,
        "stopped 25 times, the output differs"
    );
}
