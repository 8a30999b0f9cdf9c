//! Shutdown returns every live task exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use weft_sched::{Scheduler, TaskId};

use crate::common::{Probe, Spinner, config, eventually, serial};

#[test]
fn shutdown_returns_every_live_task_exactly_once() {
    let _serial = serial();
    let scheduler = Scheduler::new(config(2)).expect("start");
    let probe = Arc::new(Probe::default());
    let mut live = BTreeSet::new();
    let mut killed = Vec::new();
    for n in 0..60u32 {
        let owner = format!("owner{}", n % 3);
        let task = Spinner::with(probe.clone());
        let id = if n % 5 == 0 {
            scheduler.spawn_paused(&owner, 1, task)
        } else {
            scheduler.spawn(&owner, 1 + n % 4, task)
        }
        .expect("spawn");
        if n % 7 == 0 {
            killed.push(id);
        } else {
            live.insert((id, owner));
        }
    }
    assert!(eventually(Duration::from_secs(10), || probe
        .runs
        .load(Ordering::Relaxed)
        >= 20));
    for &id in &killed {
        scheduler.kill(id).expect("live");
    }
    // Some are paused while running.
    for &(id, _) in live.iter().step_by(4) {
        scheduler.pause(id).expect("live");
    }
    let tasks = scheduler.shutdown();
    let returned: Vec<(TaskId, String)> = tasks
        .iter()
        .map(|(id, owner, _)| (*id, owner.clone()))
        .collect();
    let unique: BTreeSet<(TaskId, String)> = returned.iter().cloned().collect();
    assert_eq!(unique.len(), returned.len(), "a task returned twice");
    assert_eq!(unique, live);
    // The killed ones were dropped, the returned ones are intact.
    assert_eq!(probe.drops.load(Ordering::Relaxed), killed.len());
    drop(tasks);
    assert_eq!(probe.drops.load(Ordering::Relaxed), 60);
}
