//! CPU shares between owners and between the tasks of an owner.

use std::time::Duration;

use weft_sched::{OwnerStats, Scheduler};

use crate::common::{Spinner, config, eventually, serial};

/// Runs until the owners have used `total` CPU time between them (or 30 s
/// of wall time pass), then returns their stats.
fn run_until(scheduler: &Scheduler<Spinner>, total: Duration) -> Vec<OwnerStats> {
    let used = || scheduler.owners().iter().map(|o| o.cpu).sum::<Duration>();
    assert!(
        eventually(Duration::from_secs(30), || used() >= total),
        "only {:?} of CPU in 30 s",
        used()
    );
    scheduler.owners()
}

fn share(owners: &[OwnerStats], name: &str) -> f64 {
    let total: f64 = owners.iter().map(|o| o.cpu.as_secs_f64()).sum();
    let mine = owners
        .iter()
        .find(|o| o.name == name)
        .expect("owner exists")
        .cpu
        .as_secs_f64();
    mine / total
}

#[test]
fn an_owner_with_one_task_gets_half_against_one_with_200() {
    let _serial = serial();
    let scheduler = Scheduler::new(config(2)).expect("start");
    for _ in 0..200 {
        scheduler.spawn("many", 1, Spinner::new()).expect("spawn");
    }
    let one = scheduler.spawn("one", 1, Spinner::new()).expect("spawn");
    let owners = run_until(&scheduler, Duration::from_millis(1500));
    let one_share = share(&owners, "one");
    eprintln!(
        "200 tasks vs 1: the single task's owner got {:.1} %",
        one_share * 100.0
    );
    assert!((0.35..=0.65).contains(&one_share), "one: {one_share}");
    // Accounting is visible per task and per owner.
    let stats = scheduler.stats(one).expect("live");
    assert_eq!(stats.owner, "one");
    assert!(stats.usage > 0.0 && stats.slices > 0 && stats.fuel > 0);
    assert!(stats.fuel_rate.is_some(), "the fuel rate is measured");
    let many = owners.iter().find(|o| o.name == "many").expect("owner");
    assert_eq!((many.tasks, many.runnable), (200, 200));
    let counted = scheduler.counters().slices;
    let lengths = scheduler.slice_lengths();
    assert!(counted > 0 && lengths.cpu.count() >= counted);
    eprintln!(
        "slice CPU time: p50 {:?}, p99 {:?}, max {:?}",
        lengths.cpu.quantile(0.5),
        lengths.cpu.quantile(0.99),
        lengths.cpu.max()
    );
    assert_eq!(scheduler.shutdown().len(), 201);
}

#[test]
fn owner_weights_1_to_3_share_25_to_75() {
    let _serial = serial();
    let scheduler = Scheduler::new(config(2)).expect("start");
    scheduler.set_owner_weight("light", 1).expect("weight");
    scheduler.set_owner_weight("heavy", 3).expect("weight");
    for _ in 0..4 {
        scheduler.spawn("light", 1, Spinner::new()).expect("spawn");
        scheduler.spawn("heavy", 1, Spinner::new()).expect("spawn");
    }
    let owners = run_until(&scheduler, Duration::from_millis(1500));
    let heavy = share(&owners, "heavy");
    eprintln!("weights 1:3: the heavy owner got {:.1} %", heavy * 100.0);
    assert!((0.65..=0.85).contains(&heavy), "heavy: {heavy}");
}

#[test]
fn task_weights_share_an_owners_cpu() {
    let _serial = serial();
    // One worker, so that the two tasks compete for it.
    let scheduler = Scheduler::new(config(1)).expect("start");
    let light = scheduler.spawn("o", 1, Spinner::new()).expect("spawn");
    let heavy = scheduler.spawn("o", 3, Spinner::new()).expect("spawn");
    run_until(&scheduler, Duration::from_millis(800));
    let cpu = |id| scheduler.stats(id).expect("live").cpu.as_secs_f64();
    let share = cpu(heavy) / (cpu(heavy) + cpu(light));
    eprintln!(
        "task weights 1:3: the heavy task got {:.1} %",
        share * 100.0
    );
    assert!((0.65..=0.85).contains(&share), "heavy: {share}");
    assert!(matches!(
        scheduler.spawn("o", 0, Spinner::new()),
        Err(weft_sched::Error::ZeroWeight)
    ));
}
