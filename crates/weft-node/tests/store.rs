//! The node's store, on real SQLite files: round trips of every operation,
//! checkpoints that only move forward, a batch of 1,000 checkpoints that
//! survives a reopen, logs bounded per script, transactions that combine
//! steps or none, a writer killed mid-commit, and files that are not (or
//! not yet) a store this weft can open.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Instant;
use weft_node::store::{
    self, Checkpoint, DATABASE_FILE, Direction, Error, LOG_LINES_KEPT, LogLine, ScriptRecord,
    ScriptState, Store, Stream, Transfer,
};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn record(id: &str) -> ScriptRecord {
    ScriptRecord {
        id: id.to_owned(),
        name: id.split('-').next().unwrap_or(id).to_owned(),
        owner: "alice".to_owned(),
        module: Sha256::digest(id.as_bytes()).into(),
        args: vec![
            id.to_owned(),
            "20".to_owned(),
            "ünïcode \"quoted\"".to_owned(),
        ],
        state: ScriptState::Running,
        exit: None,
        created_at: 1_764_612_345.125,
    }
}

/// `len` bytes that only the pair (`key`, `seq`) produces.
fn pattern(key: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut state = ((key << 32) ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn checkpoint(script: &str, seq: u64, snapshot: Vec<u8>) -> Checkpoint {
    Checkpoint {
        script: script.to_owned(),
        seq,
        snapshot,
        log_next: seq.saturating_mul(10),
        taken_at: seq as f64 + 0.5,
    }
}

fn line(script: &str, seq: u64) -> LogLine {
    let stream = if seq.is_multiple_of(3) {
        Stream::Err
    } else {
        Stream::Out
    };
    LogLine {
        script: script.to_owned(),
        seq,
        stream,
        text: format!("line {seq} of {script}"),
    }
}

fn transfer(id: &str, phase: &str) -> Transfer {
    Transfer {
        id: id.to_owned(),
        script: "counter-1f3a".to_owned(),
        peer: "http://10.0.0.2:7878".to_owned(),
        direction: Direction::Out,
        phase: phase.to_owned(),
        snapshot: Some(pattern(7, 7, 1000)),
        updated_at: 12.5,
    }
}

#[test]
fn open_creates_the_directory_and_reopens() {
    let dir = temp_dir();
    let data = dir.path().join("a/b/data");
    let store = Store::open(&data).unwrap();
    assert_eq!(store.path(), data.join(DATABASE_FILE));
    store.insert_script(&record("counter-0001")).unwrap();
    drop(store);
    let store = Store::open(&data).unwrap();
    assert_eq!(store.scripts().unwrap(), [record("counter-0001")]);
}

#[test]
fn a_second_store_on_one_directory_is_refused() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    assert!(matches!(error, Error::InUse(_)), "{error:?}");
    assert!(
        error.to_string().contains("in use by another node"),
        "{error}"
    );
    drop(store);
    Store::open(dir.path()).unwrap();
}

#[test]
fn modules_round_trip() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    let wasm = b"\0asm\x01\0\0\0 pretend module".to_vec();
    let hash: [u8; 32] = Sha256::digest(&wasm).into();
    assert_eq!(store.module(&hash).unwrap(), None);
    store.put_module(&hash, &wasm).unwrap();
    store.put_module(&hash, &wasm).unwrap();
    assert_eq!(store.module(&hash).unwrap(), Some(wasm.clone()));

    let error = store.put_module(&[0; 32], &wasm).unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error:?}");
    assert!(error.to_string().contains(&hex::encode(hash)), "{error}");
    assert_eq!(store.module(&[0; 32]).unwrap(), None);
}

#[test]
fn scripts_round_trip() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.scripts().unwrap(), []);
    for id in ["zeta-0003", "alpha-0001", "mid-0002"] {
        store.insert_script(&record(id)).unwrap();
    }
    let error = store.insert_script(&record("mid-0002")).unwrap_err();
    assert!(matches!(error, Error::Exists(_)), "{error:?}");
    assert_eq!(error.to_string(), "script `mid-0002` exists already");

    assert_eq!(store.script("mid-0002").unwrap(), Some(record("mid-0002")));
    assert_eq!(store.script("nobody").unwrap(), None);
    let ids: Vec<String> = store.scripts().unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["alpha-0001", "mid-0002", "zeta-0003"]);

    store
        .set_state(
            "mid-0002",
            ScriptState::Exited,
            Some("exited with status 0"),
        )
        .unwrap();
    let mut expected = record("mid-0002");
    expected.state = ScriptState::Exited;
    expected.exit = Some("exited with status 0".to_owned());
    assert_eq!(store.script("mid-0002").unwrap(), Some(expected));
    for state in [
        ScriptState::Running,
        ScriptState::Paused,
        ScriptState::Killed,
        ScriptState::Away,
    ] {
        store.set_state("alpha-0001", state, None).unwrap();
        assert_eq!(store.script("alpha-0001").unwrap().unwrap().state, state);
    }
    let error = store
        .set_state("nobody", ScriptState::Paused, None)
        .unwrap_err();
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
    assert_eq!(error.to_string(), "no script `nobody` in the store");

    store.delete_script("zeta-0003").unwrap();
    assert_eq!(store.script("zeta-0003").unwrap(), None);
    assert!(matches!(
        store.delete_script("zeta-0003"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(store.scripts().unwrap().len(), 2);
}

#[test]
fn deleting_a_script_takes_its_checkpoint_and_logs() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    store.insert_script(&record("a")).unwrap();
    store.insert_script(&record("b")).unwrap();
    store
        .save_checkpoints(&[
            checkpoint("a", 1, vec![1; 10]),
            checkpoint("b", 1, vec![2; 10]),
        ])
        .unwrap();
    store
        .append_logs(&[line("a", 0), line("a", 1), line("b", 0)])
        .unwrap();

    store.delete_script("a").unwrap();
    assert_eq!(store.checkpoint("a").unwrap(), None);
    assert_eq!(store.logs("a", 0, 100).unwrap(), []);
    assert_eq!(store.next_log_seq("a").unwrap(), 0);
    assert_eq!(store.checkpoint("b").unwrap().unwrap().seq, 1);
    assert_eq!(store.logs("b", 0, 100).unwrap(), [line("b", 0)]);

    // A script of the same id starts afresh.
    store.insert_script(&record("a")).unwrap();
    assert_eq!(store.checkpoint("a").unwrap(), None);
    assert_eq!(
        store
            .save_checkpoints(&[checkpoint("a", 1, vec![3])])
            .unwrap(),
        1
    );
}

#[test]
fn checkpoints_only_move_forward() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    store.insert_script(&record("a")).unwrap();
    store.insert_script(&record("b")).unwrap();
    assert_eq!(store.checkpoint("a").unwrap(), None);

    assert_eq!(
        store
            .save_checkpoints(&[checkpoint("a", 5, pattern(0, 5, 300))])
            .unwrap(),
        1
    );
    assert_eq!(
        store.checkpoint("a").unwrap(),
        Some(checkpoint("a", 5, pattern(0, 5, 300)))
    );
    // Older and equal seqs are ignored, newer ones replace; an unknown
    // script is skipped; none of the ignored ones count.
    let batch = [
        checkpoint("a", 4, pattern(0, 4, 300)),
        checkpoint("a", 5, pattern(9, 9, 300)),
        checkpoint("deleted-meanwhile", 100, vec![1, 2, 3]),
        checkpoint("b", 0, pattern(1, 0, 10)),
        checkpoint("a", 7, pattern(0, 7, 100)),
    ];
    assert_eq!(store.save_checkpoints(&batch).unwrap(), 2);
    assert_eq!(
        store.checkpoint("a").unwrap(),
        Some(checkpoint("a", 7, pattern(0, 7, 100)))
    );
    assert_eq!(
        store.checkpoint("b").unwrap(),
        Some(checkpoint("b", 0, pattern(1, 0, 10)))
    );
    assert_eq!(store.checkpoint("deleted-meanwhile").unwrap(), None);
    assert_eq!(
        store
            .save_checkpoints(&[checkpoint("a", 6, vec![])])
            .unwrap(),
        0
    );
    assert_eq!(store.save_checkpoints(&[]).unwrap(), 0);
    assert_eq!(store.checkpoint("a").unwrap().unwrap().seq, 7);

    // A seq SQLite cannot hold is refused, and the batch with it.
    let error = store
        .save_checkpoints(&[
            checkpoint("b", 1, vec![]),
            checkpoint("a", u64::MAX, vec![]),
        ])
        .unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error:?}");
    assert_eq!(store.checkpoint("b").unwrap().unwrap().seq, 0);
}

const BATCH: usize = 1_000;
const SNAPSHOT_BYTES: usize = 64 << 10;

fn big_batch(store: &Store) -> Vec<Checkpoint> {
    let ids: Vec<String> = (0..BATCH).map(|i| format!("script-{i:04}")).collect();
    store
        .transaction(|tx| {
            for id in &ids {
                store::insert_script(tx, &record(id))?;
            }
            Ok(())
        })
        .unwrap();
    ids.iter()
        .enumerate()
        .map(|(i, id)| checkpoint(id, 3, pattern(i as u64, 3, SNAPSHOT_BYTES)))
        .collect()
}

#[test]
fn a_batch_of_1000_checkpoints_survives_a_reopen() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    let batch = big_batch(&store);
    assert_eq!(store.save_checkpoints(&batch).unwrap(), BATCH);
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.scripts().unwrap().len(), BATCH);
    for expected in &batch {
        assert_eq!(
            store.checkpoint(&expected.script).unwrap().as_ref(),
            Some(expected)
        );
    }
}

#[test]
#[ignore = "a measurement, not a test: cargo test -p weft-node --test store -- --ignored --nocapture time_"]
fn time_a_batch_of_1000_checkpoints() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    let mut batch = big_batch(&store);
    for round in 1..=8 {
        // New bytes each round: SQLite skips writing the pages of a blob
        // that did not change.
        for (i, checkpoint) in batch.iter_mut().enumerate() {
            checkpoint.seq = round + 3;
            checkpoint.snapshot = pattern(i as u64, round + 3, SNAPSHOT_BYTES);
        }
        let start = Instant::now();
        assert_eq!(store.save_checkpoints(&batch).unwrap(), BATCH);
        let elapsed = start.elapsed().as_secs_f64();
        let wal = std::fs::metadata(dir.path().join("node.sqlite3-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        let db = std::fs::metadata(dir.path().join(DATABASE_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!(
            "round {round}: {BATCH} checkpoints of {} KiB in {elapsed:.3} s (WAL {} MiB, database {} MiB)",
            SNAPSHOT_BYTES >> 10,
            wal >> 20,
            db >> 20,
        );
    }
}

#[test]
fn logs_round_trip() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    store.insert_script(&record("a")).unwrap();
    store.insert_script(&record("b")).unwrap();
    assert_eq!(store.next_log_seq("a").unwrap(), 0);
    assert_eq!(store.logs("a", 0, 10).unwrap(), []);

    let lines: Vec<LogLine> = (0..20)
        .map(|seq| line("a", seq))
        .chain([line("b", 0), line("gone", 0)])
        .collect();
    store.append_logs(&lines).unwrap();
    assert_eq!(store.logs("a", 0, 100).unwrap(), lines[..20]);
    assert_eq!(store.logs("a", 5, 3).unwrap(), lines[5..8]);
    assert_eq!(store.logs("a", 19, 100).unwrap(), lines[19..20]);
    assert_eq!(store.logs("a", 20, 100).unwrap(), []);
    assert_eq!(store.logs("a", u64::MAX, 100).unwrap(), []);
    assert_eq!(store.logs("a", 0, 0).unwrap(), []);
    assert_eq!(store.logs("a", 0, usize::MAX).unwrap().len(), 20);
    assert_eq!(store.logs("b", 0, 100).unwrap(), [line("b", 0)]);
    assert_eq!(store.logs("gone", 0, 100).unwrap(), []);
    assert_eq!(store.next_log_seq("a").unwrap(), 20);
    assert_eq!(store.next_log_seq("b").unwrap(), 1);

    // A line written again replaces the stored one.
    let mut again = line("a", 4);
    again.text = "written again".to_owned();
    again.stream = Stream::Err;
    store.append_logs(&[again.clone()]).unwrap();
    assert_eq!(store.logs("a", 4, 1).unwrap(), [again]);
    assert_eq!(store.logs("a", 0, 100).unwrap().len(), 20);
}

#[test]
fn logs_keep_the_newest_lines_of_each_script() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    for id in ["one-call", "many-calls", "small"] {
        store.insert_script(&record(id)).unwrap();
    }
    store
        .append_logs(&[line("small", 0), line("small", 1)])
        .unwrap();
    let total = LOG_LINES_KEPT + 2_000;
    let lines: Vec<LogLine> = (0..total).map(|seq| line("one-call", seq)).collect();
    store.append_logs(&lines).unwrap();
    for chunk in (0..total).collect::<Vec<_>>().chunks(700) {
        let lines: Vec<LogLine> = chunk.iter().map(|&seq| line("many-calls", seq)).collect();
        store.append_logs(&lines).unwrap();
    }

    for id in ["one-call", "many-calls"] {
        let kept = store.logs(id, 0, usize::MAX).unwrap();
        assert_eq!(kept.len() as u64, LOG_LINES_KEPT, "{id}");
        assert_eq!(kept[0], line(id, total - LOG_LINES_KEPT), "{id}");
        assert_eq!(kept.last(), Some(&line(id, total - 1)), "{id}");
        assert_eq!(store.logs(id, 0, 1).unwrap(), [line(id, 2_000)], "{id}");
        assert_eq!(store.next_log_seq(id).unwrap(), total, "{id}");
    }
    assert_eq!(
        store.logs("small", 0, 100).unwrap(),
        [line("small", 0), line("small", 1)]
    );

    // The count stays right across truncations and reopens.
    store.truncate_logs("one-call", total - 500).unwrap();
    assert_eq!(
        store.logs("one-call", 0, usize::MAX).unwrap().len() as u64,
        LOG_LINES_KEPT - 500
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    store
        .append_logs(
            &(total - 500..total + 1_000)
                .map(|seq| line("one-call", seq))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let kept = store.logs("one-call", 0, usize::MAX).unwrap();
    assert_eq!(kept.len() as u64, LOG_LINES_KEPT);
    assert_eq!(kept[0].seq, total + 1_000 - LOG_LINES_KEPT);
}

#[test]
fn truncate_logs_drops_the_lines_from_a_seq_on() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    store.insert_script(&record("a")).unwrap();
    store.insert_script(&record("b")).unwrap();
    store
        .append_logs(
            &(0..10)
                .map(|seq| line("a", seq))
                .chain([line("b", 7)])
                .collect::<Vec<_>>(),
        )
        .unwrap();

    store.truncate_logs("a", 6).unwrap();
    assert_eq!(store.next_log_seq("a").unwrap(), 6);
    assert_eq!(
        store.logs("a", 0, 100).unwrap(),
        (0..6).map(|seq| line("a", seq)).collect::<Vec<_>>()
    );
    assert_eq!(store.logs("b", 0, 100).unwrap(), [line("b", 7)]);
    // Nothing at or after the seq, an unknown script, a seq past anything
    // storable: nothing to do.
    store.truncate_logs("a", 6).unwrap();
    store.truncate_logs("nobody", 0).unwrap();
    store.truncate_logs("a", u64::MAX).unwrap();
    assert_eq!(store.next_log_seq("a").unwrap(), 6);

    // The script writes the dropped lines again.
    store
        .append_logs(&(6..8).map(|seq| line("a", seq)).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(store.next_log_seq("a").unwrap(), 8);
    store.truncate_logs("a", 0).unwrap();
    assert_eq!(store.next_log_seq("a").unwrap(), 0);
    assert_eq!(store.logs("a", 0, 100).unwrap(), []);
}

#[test]
fn transfers_round_trip() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.transfers().unwrap(), []);
    assert_eq!(store.transfer("t2").unwrap(), None);
    store.put_transfer(&transfer("t2", "prepared")).unwrap();
    let mut incoming = transfer("t1", "received");
    incoming.direction = Direction::In;
    incoming.snapshot = None;
    store.put_transfer(&incoming).unwrap();
    assert_eq!(
        store.transfer("t2").unwrap(),
        Some(transfer("t2", "prepared"))
    );
    assert_eq!(
        store.transfers().unwrap(),
        [incoming.clone(), transfer("t2", "prepared")]
    );

    let mut committed = transfer("t2", "committed");
    committed.snapshot = None;
    committed.updated_at = 13.0;
    store.put_transfer(&committed).unwrap();
    assert_eq!(store.transfer("t2").unwrap(), Some(committed));
    assert_eq!(store.transfers().unwrap().len(), 2);

    store.delete_transfer("t2").unwrap();
    assert_eq!(store.transfer("t2").unwrap(), None);
    let error = store.delete_transfer("t2").unwrap_err();
    assert!(matches!(error, Error::NotFound(_)), "{error:?}");
    assert_eq!(store.transfers().unwrap(), [incoming]);
}

#[test]
fn a_transaction_does_all_or_nothing() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    store.insert_script(&record("counter-1f3a")).unwrap();

    // A step that fails undoes the steps before it.
    let error = store
        .transaction(|tx| {
            store::set_state(tx, "counter-1f3a", ScriptState::Away, None)?;
            store::put_transfer(tx, &transfer("t1", "prepared"))?;
            store::save_checkpoints(tx, &[checkpoint("counter-1f3a", 1, vec![1])])?;
            store::insert_script(tx, &record("counter-1f3a"))
        })
        .unwrap_err();
    assert!(matches!(error, Error::Exists(_)), "{error:?}");
    assert_eq!(
        store.script("counter-1f3a").unwrap().unwrap().state,
        ScriptState::Running
    );
    assert_eq!(store.transfer("t1").unwrap(), None);
    assert_eq!(store.checkpoint("counter-1f3a").unwrap(), None);

    // So does a panic.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.transaction::<()>(|tx| {
            store::set_state(tx, "counter-1f3a", ScriptState::Away, None)?;
            panic!("in the middle of a transaction")
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(
        store.script("counter-1f3a").unwrap().unwrap().state,
        ScriptState::Running
    );

    let value = store
        .transaction(|tx| {
            store::set_state(tx, "counter-1f3a", ScriptState::Away, None)?;
            store::put_transfer(tx, &transfer("t1", "prepared"))?;
            Ok(42)
        })
        .unwrap();
    assert_eq!(value, 42);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.script("counter-1f3a").unwrap().unwrap().state,
        ScriptState::Away
    );
    assert_eq!(
        store.transfer("t1").unwrap(),
        Some(transfer("t1", "prepared"))
    );
}

#[test]
fn a_corrupt_row_is_an_error() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    let wasm = b"\0asm\x01\0\0\0".to_vec();
    let hash: [u8; 32] = Sha256::digest(&wasm).into();
    store.put_module(&hash, &wasm).unwrap();
    store.insert_script(&record("a")).unwrap();
    store.append_logs(&[line("a", 1)]).unwrap();
    store.put_transfer(&transfer("t1", "prepared")).unwrap();
    let corrupt = |sql: &str| store.transaction(|tx| Ok(tx.execute_batch(sql)?)).unwrap();
    let expect_corrupt = |result: Result<(), Error>, needle: &str| {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::Corrupt(_)), "{error:?}");
        assert!(error.to_string().contains(needle), "{error}");
    };

    corrupt("UPDATE scripts SET state = 'bogus'");
    expect_corrupt(store.script("a").map(drop), "`bogus` is not a script state");
    expect_corrupt(store.scripts().map(drop), "script `a`");
    corrupt("UPDATE scripts SET state = 'running', args = '[1, 2'");
    expect_corrupt(store.script("a").map(drop), "args");
    corrupt("UPDATE logs SET stream = 'sideways'");
    expect_corrupt(
        store.logs("a", 0, 10).map(drop),
        "`sideways` is not a stream",
    );
    corrupt("UPDATE transfers SET direction = 'up'");
    expect_corrupt(store.transfer("t1").map(drop), "`up` is not a direction");
    corrupt("UPDATE modules SET wasm = x'00'");
    expect_corrupt(store.module(&hash).map(drop), &hex::encode(hash));
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = temp_dir();
    let path = dir.path().join(DATABASE_FILE);
    std::fs::write(
        &path,
        "these are not the pages you are looking for\n".repeat(200),
    )
    .unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    assert!(matches!(error, Error::NotAStore { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("not a SQLite database"), "{message}");
}

#[test]
fn a_database_of_another_application_is_refused() {
    let dir = temp_dir();
    let connection = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    connection
        .execute_batch("CREATE TABLE recipes (name TEXT)")
        .unwrap();
    drop(connection);
    let error = Store::open(dir.path()).unwrap_err();
    assert!(matches!(error, Error::NotAStore { .. }), "{error:?}");
    assert!(error.to_string().contains("not a weft store"), "{error}");
}

#[test]
fn a_database_from_a_newer_weft_is_refused() {
    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    store.insert_script(&record("a")).unwrap();
    store
        .transaction(|tx| Ok(tx.pragma_update(None, "user_version", store::SCHEMA_VERSION + 1)?))
        .unwrap();
    drop(store);
    let error = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(error, Error::TooNew { found, .. } if found == store::SCHEMA_VERSION + 1),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("schema version {}", store::SCHEMA_VERSION + 1)),
        "{message}"
    );
    assert!(message.contains("newer"), "{message}");
}

/// The scripts the killed writer checkpoints, all in each commit.
const CRASH_SCRIPTS: u64 = 8;
/// Where [`crash_child`] finds its store.
const CRASH_DIR: &str = "WEFT_STORE_TEST_CRASH_DIR";

fn crash_snapshot(script: u64, seq: u64) -> Vec<u8> {
    pattern(script, seq, (16 << 10) + (seq as usize % 16) * (16 << 10))
}

/// The child of [`checkpoints_survive_a_killed_writer`]: saves rounds of
/// checkpoints and log lines until killed, reporting each commit on stderr.
#[test]
#[ignore = "the child process of checkpoints_survive_a_killed_writer"]
fn crash_child() {
    use std::io::Write;
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    for seq in 1.. {
        let batch: Vec<Checkpoint> = (0..CRASH_SCRIPTS)
            .map(|i| Checkpoint {
                script: format!("s{i}"),
                seq,
                snapshot: crash_snapshot(i, seq),
                log_next: seq,
                taken_at: seq as f64,
            })
            .collect();
        let lines: Vec<LogLine> = (0..CRASH_SCRIPTS)
            .map(|i| line(&format!("s{i}"), seq - 1))
            .collect();
        store
            .transaction(|tx| {
                store::save_checkpoints(tx, &batch)?;
                store::append_logs(tx, &lines)
            })
            .unwrap();
        let _ = writeln!(std::io::stderr(), "committed {seq}");
    }
}

#[cfg(unix)]
#[test]
fn checkpoints_survive_a_killed_writer() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = temp_dir();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..CRASH_SCRIPTS {
        store.insert_script(&record(&format!("s{i}"))).unwrap();
    }
    drop(store);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, commits) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut other = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            match line
                .strip_prefix("committed ")
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(seq) => drop(sender.send(seq)),
                None => other += &(line + "\n"),
            }
        }
        other
    });

    let Ok(first) = commits.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child committed nothing:\n{}", reader.join().unwrap());
    };
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let other = reader.join().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child ended before it was killed: {status}\n{other}"
    );
    let reported = commits.try_iter().last().unwrap_or(first);
    assert!(
        reported >= 2,
        "the child committed only {reported} rounds in 200 ms"
    );

    // Every commit reported is there; the one in flight may be too. Within
    // a commit, every script is at the same seq, its snapshot whole, its
    // log lines up to the checkpoint.
    let store = Store::open(dir.path()).unwrap();
    let seq = store
        .checkpoint("s0")
        .unwrap()
        .expect("a checkpoint of s0")
        .seq;
    assert!(
        seq == reported || seq == reported + 1,
        "seq {seq}, the child reported {reported}"
    );
    for i in 0..CRASH_SCRIPTS {
        let id = format!("s{i}");
        let checkpoint = store.checkpoint(&id).unwrap().unwrap();
        assert_eq!(checkpoint.seq, seq, "{id}");
        assert_eq!(checkpoint.log_next, seq, "{id}");
        assert!(
            checkpoint.snapshot == crash_snapshot(i, seq),
            "{id}: the snapshot of seq {seq} is not whole"
        );
        assert_eq!(store.next_log_seq(&id).unwrap(), seq, "{id}");
        let lines = store.logs(&id, 0, usize::MAX).unwrap();
        assert_eq!(lines.len() as u64, seq.min(LOG_LINES_KEPT), "{id}");
        assert_eq!(lines.last(), Some(&line(&id, seq - 1)), "{id}");
    }
    let integrity: String = store
        .transaction(|tx| Ok(tx.query_row("PRAGMA integrity_check", [], |row| row.get(0))?))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn a_version_1_store_gains_the_sources_table() {
    let dir = temp_dir();
    let path = dir.path().join(DATABASE_FILE);
    let module: [u8; 32] = Sha256::digest(b"\0asm1").into();
    // A store as version 1 wrote it: the sources table missing.
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_module(&module, b"\0asm1").unwrap();
        store
            .transaction(|tx| {
                tx.execute_batch("DROP TABLE sources")?;
                Ok(tx.pragma_update(None, "user_version", 1)?)
            })
            .unwrap();
    }
    let connection = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'sources'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    drop(connection);

    let store = Store::open(dir.path()).unwrap();
    let source = weft_node::SourceFile {
        file: "counter.c".into(),
        text: "int main(void) { return 0; }\n".into(),
    };
    assert_eq!(store.source(&module).unwrap(), None);
    store.put_source(&module, &source).unwrap();
    assert_eq!(store.source(&module).unwrap(), Some(source));
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, store::SCHEMA_VERSION);
}
