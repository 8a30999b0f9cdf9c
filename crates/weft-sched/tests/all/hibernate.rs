//! An idle task is hibernated, then rebuilds itself when woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weft_sched::{Config, Interrupt, Scheduler, Slice, SliceEnd, Task, Wake};

use crate::common::{config, eventually, serial};

/// Holds a big "instance" that hibernation turns into a small "snapshot".
struct Script {
    instance: Option<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
    hibernations: Arc<AtomicU64>,
    rebuilds: u64,
    runs: u64,
}

impl Task for Script {
    fn run(&mut self, _: &Slice) -> SliceEnd {
        if self.instance.is_none() {
            let snapshot = self.snapshot.take().expect("hibernated with a snapshot");
            self.instance = Some(snapshot.repeat(1024));
            self.rebuilds += 1;
        }
        self.runs += 1;
        if self.runs == 1 {
            SliceEnd::park(1, Wake::Message)
        } else {
            SliceEnd::finished(1, format!("rebuilt {} time(s)", self.rebuilds))
        }
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        None
    }

    fn hibernate(&mut self) -> Result<(), String> {
        let instance = self.instance.take().ok_or("hibernated twice")?;
        self.snapshot = Some(instance[..instance.len() / 1024].to_vec());
        self.hibernations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn is_hibernated(&self) -> bool {
        self.instance.is_none()
    }

    fn memory_bytes(&self) -> u64 {
        let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, |v| v.len() as u64);
        len(&self.instance) + len(&self.snapshot)
    }
}

#[test]
fn an_idle_task_is_hibernated_and_comes_back_when_woken() {
    let _serial = serial();
    let config = Config {
        hibernate_after: Some(Duration::from_millis(50)),
        ..config(1)
    };
    let scheduler = Scheduler::new(config).expect("start");
    let hibernations = Arc::new(AtomicU64::new(0));
    let script = Script {
        instance: Some(vec![7; 1 << 20]),
        snapshot: None,
        hibernations: hibernations.clone(),
        rebuilds: 0,
        runs: 0,
    };
    let id = scheduler.spawn("o", 1, script).expect("spawn");
    assert!(eventually(Duration::from_secs(10), || scheduler
        .stats(id)
        .is_some_and(|s| s.hibernated)));
    let stats = scheduler.stats(id).expect("live");
    assert_eq!(stats.memory_bytes, 1 << 10, "only the snapshot is left");
    assert_eq!(hibernations.load(Ordering::Relaxed), 1);
    // Tried once per idle period, not again and again.
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(hibernations.load(Ordering::Relaxed), 1);
    assert_eq!(scheduler.counters().hibernations, 1);
    scheduler.wake(id).expect("live");
    let exit = scheduler.wait_finished(id, Duration::from_secs(10));
    assert_eq!(exit.as_deref(), Some("rebuilt 1 time(s)"));
}
