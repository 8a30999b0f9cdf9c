//! `weft demo`, small: scripts share the CPU, are saved, dropped, restored,
//! and continue where they were.

use crate::util::{stderr, weft};

#[test]
fn scripts_come_back_where_they_were_saved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = weft(&[
        "demo",
        "--scripts",
        "60",
        "--seconds",
        "1",
        "--dir",
        dir.path().to_str().expect("utf-8 path"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("restored all 60"), "{text}");
    assert!(
        text.contains("every script continued exactly where it was saved"),
        "{text}"
    );
    // One snapshot per script, each of which `weft inspect` reads.
    let snapshots: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the snapshot directory")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(snapshots.len(), 60);
    let inspected = weft(&["inspect", snapshots[0].to_str().expect("utf-8 path")]);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    // Every kind moved on after the restore.
    for kind in ["spinning", "sleeping", "talking"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row in\n{text}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        let moved = &cells[cells.len() - 3..];
        assert_eq!(
            moved[0], moved[2],
            "not every {kind} script moved on: {row}"
        );
    }
}
