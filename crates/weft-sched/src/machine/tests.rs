//! The state machine on its own, with simulated time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Core, Job, Outcome, Report};
use crate::{Config, Error, Interrupt, Next, Slice, SliceEnd, Task, TaskId, TaskState, Wake};

#[derive(Default)]
struct Counts {
    interrupts: AtomicUsize,
    resets: AtomicUsize,
    drops: AtomicUsize,
}

impl Interrupt for Counts {
    fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::Relaxed);
    }
    fn reset(&self) {
        self.resets.fetch_add(1, Ordering::Relaxed);
    }
}

/// A task that the tests run by hand.
struct Fake(Arc<Counts>);

impl Drop for Fake {
    fn drop(&mut self) {
        self.0.drops.fetch_add(1, Ordering::Relaxed);
    }
}

impl Task for Fake {
    fn run(&mut self, _: &Slice) -> SliceEnd {
        unreachable!("the tests report slices by hand")
    }
    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        Some(self.0.clone())
    }
}

fn config() -> Config {
    Config {
        workers: 1,
        slice: Duration::from_millis(10),
        hibernate_after: Some(Duration::from_secs(1)),
        ..Config::default()
    }
}

fn core() -> (Core<Fake>, Arc<Counts>, Instant) {
    (
        Core::new(&config()),
        Arc::new(Counts::default()),
        Instant::now(),
    )
}

fn slice(core: &mut Core<Fake>, now: Instant) -> (TaskId, Fake, Slice) {
    match core.pick(now) {
        Some(Job::Slice { id, task, slice }) => (id, task, slice),
        Some(Job::Hibernate { .. }) => panic!("expected a slice, got a hibernation"),
        None => panic!("expected a slice, got nothing"),
    }
}

fn report(next: Next, fuel: u64, cpu: Duration) -> Report {
    Report {
        outcome: Outcome::Slice(SliceEnd {
            fuel_used: fuel,
            next,
        }),
        cpu,
        wall: cpu,
        memory_bytes: 0,
        hibernated: false,
    }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_slice_is_measured_then_budgeted_by_fuel() {
    let (mut core, counts, now) = core();
    let id = core
        .spawn("o", 1, Fake(counts.clone()), false, now)
        .expect("spawn");
    let (got, task, first) = slice(&mut core, now);
    assert_eq!(got, id);
    assert_eq!(first.fuel, None, "no rate measured yet");
    assert_eq!(first.deadline, now + 10 * MS);
    assert_eq!(
        counts.resets.load(Ordering::Relaxed),
        1,
        "reset before the slice"
    );
    assert_eq!(core.state(id), Some(TaskState::Running));
    // The deadline interrupts it.
    assert_eq!(core.expire(now + 10 * MS), None);
    assert_eq!(counts.interrupts.load(Ordering::Relaxed), 1);
    assert!(
        core.finish(
            id,
            task,
            report(Next::Runnable, 5_000, 10 * MS),
            now + 10 * MS
        )
        .is_none()
    );
    let stats = core.stats(id, now + 10 * MS).expect("live");
    assert_eq!((stats.cpu, stats.fuel, stats.slices), (10 * MS, 5_000, 1));
    assert_eq!(stats.fuel_rate, Some(500_000.0));
    // 500,000 fuel per second over 10 ms.
    let (_, task, second) = slice(&mut core, now + 10 * MS);
    assert_eq!(second.fuel, Some(5_000));
    assert_eq!(second.deadline, now + 30 * MS, "slice plus slack");
    let finished = core.finish(
        id,
        task,
        report(Next::Finished("ok".into()), 5_000, 10 * MS),
        now + 20 * MS,
    );
    assert!(finished.is_some(), "handed back to drop outside the lock");
    assert_eq!(counts.drops.load(Ordering::Relaxed), 0);
    drop(finished);
    assert_eq!(counts.drops.load(Ordering::Relaxed), 1);
    assert_eq!(core.state(id), None);
    assert_eq!(core.take_exit(id).as_deref(), Some("ok"));
    assert_eq!(core.owners(now)[0].cpu, 20 * MS);
}

#[test]
fn a_wake_during_a_slice_is_not_lost() {
    let (mut core, counts, now) = core();
    let id = core.spawn("o", 1, Fake(counts), false, now).expect("spawn");
    let (_, task, _) = slice(&mut core, now);
    core.wake(id).expect("live");
    core.finish(id, task, report(Next::Park(Wake::Message), 1, MS), now);
    assert_eq!(core.state(id), Some(TaskState::Runnable));
    // That wake is consumed by the slice that starts now.
    let (_, task, _) = slice(&mut core, now);
    core.finish(id, task, report(Next::Park(Wake::Message), 1, MS), now);
    assert_eq!(core.state(id), Some(TaskState::Parked));
    core.wake(id).expect("live");
    core.wake(id).expect("live");
    assert_eq!(core.queued(), 1, "queued once for two wakes");
}

#[test]
fn a_timer_park_ignores_wake_but_not_its_time() {
    let (mut core, counts, now) = core();
    let id = core.spawn("o", 1, Fake(counts), false, now).expect("spawn");
    let (_, task, _) = slice(&mut core, now);
    core.finish(
        id,
        task,
        report(Next::Park(Wake::At(now + 50 * MS)), 1, MS),
        now,
    );
    core.wake(id).expect("live");
    assert_eq!(core.state(id), Some(TaskState::Parked));
    assert_eq!(core.next_timer(), Some(now + 50 * MS));
    core.expire(now + 50 * MS);
    assert_eq!(core.state(id), Some(TaskState::Runnable));
    // A receive with a timeout ends on either.
    let (_, task, _) = slice(&mut core, now + 50 * MS);
    core.finish(
        id,
        task,
        report(Next::Park(Wake::MessageOrAt(now + 90 * MS)), 1, MS),
        now + 50 * MS,
    );
    core.wake(id).expect("live");
    assert_eq!(core.state(id), Some(TaskState::Runnable));
    assert_eq!(
        core.next_timer(),
        None,
        "its timer is gone, and a queued task is not idle"
    );
}

#[test]
fn pause_and_kill_interrupt_a_running_slice() {
    let (mut core, counts, now) = core();
    let id = core
        .spawn("o", 1, Fake(counts.clone()), false, now)
        .expect("spawn");
    let (_, task, _) = slice(&mut core, now);
    core.pause(id, now).expect("live");
    assert_eq!(counts.interrupts.load(Ordering::Relaxed), 1);
    core.finish(id, task, report(Next::Runnable, 1, MS), now);
    assert_eq!(core.state(id), Some(TaskState::Paused));
    assert!(core.pick(now).is_none(), "a paused task does not run");
    core.wake(id).expect("live");
    core.resume(id).expect("live");
    let (_, task, _) = slice(&mut core, now);
    core.kill(id).expect("live");
    assert_eq!(counts.interrupts.load(Ordering::Relaxed), 2);
    assert!(matches!(core.kill(id), Err(Error::UnknownTask(_))));
    assert!(matches!(core.wake(id), Err(Error::UnknownTask(_))));
    assert!(core.stats(id, now).is_none());
    let dropped = core.finish(id, task, report(Next::Runnable, 1, MS), now);
    assert!(
        dropped.is_some(),
        "a killed task is handed back to be dropped"
    );
    assert!(core.pick(now).is_none(), "and never runs again");
    assert_eq!(core.owners(now)[0].tasks, 0);
}

#[test]
fn kill_of_an_idle_task_hands_it_back_at_once() {
    let (mut core, counts, now) = core();
    let id = core
        .spawn("o", 1, Fake(counts.clone()), true, now)
        .expect("spawn");
    assert_eq!(core.state(id), Some(TaskState::Paused));
    let task = core.kill(id).expect("live").expect("at home");
    drop(task);
    assert_eq!(counts.drops.load(Ordering::Relaxed), 1);
    assert_eq!(core.next_timer(), None, "its hibernation timer is gone too");
}

#[test]
fn an_idle_task_is_hibernated_once_then_runs_again() {
    let (mut core, counts, now) = core();
    let id = core.spawn("o", 1, Fake(counts), false, now).expect("spawn");
    let (_, task, _) = slice(&mut core, now);
    core.finish(id, task, report(Next::Park(Wake::Message), 1, MS), now);
    assert!(core.pick(now).is_none());
    core.expire(now + Duration::from_secs(1));
    let Some(Job::Hibernate { id: got, task }) = core.pick(now) else {
        panic!("expected a hibernation")
    };
    assert_eq!(got, id);
    assert_eq!(core.state(id), Some(TaskState::Hibernating));
    core.wake(id).expect("live");
    let done = Report {
        outcome: Outcome::Hibernate(Ok(())),
        cpu: MS,
        wall: MS,
        memory_bytes: 0,
        hibernated: true,
    };
    let (vruntime, owner) = (core.tasks[&id].vruntime, core.tasks[&id].owner);
    let owner_vruntime = core.fair.owner_vruntime(owner);
    core.finish(id, task, done, now + Duration::from_secs(1));
    assert_eq!(core.counters.hibernations, 1);
    // Its CPU time is accounted, and charged to its owner's share but not to
    // its place among its siblings.
    assert_eq!(core.stats(id, now).expect("live").cpu, 2 * MS);
    assert_eq!(core.tasks[&id].vruntime, vruntime);
    assert!(core.fair.owner_vruntime(owner) > owner_vruntime);
    assert!(core.stats(id, now).expect("live").hibernated);
    // The wake that came during the hibernation made it runnable.
    assert_eq!(core.state(id), Some(TaskState::Runnable));
    let (_, task, _) = slice(&mut core, now);
    core.finish(
        id,
        task,
        report(Next::Park(Wake::Message), 1, MS),
        now + Duration::from_secs(2),
    );
    // A new idle period, a new hibernation.
    core.expire(now + Duration::from_secs(3));
    assert!(matches!(core.pick(now), Some(Job::Hibernate { .. })));
}

#[test]
fn a_sleeper_comes_back_with_bounded_credit() {
    let (mut core, counts, now) = core();
    let sleeper = core
        .spawn("o", 1, Fake(counts.clone()), false, now)
        .expect("spawn");
    let spinner = core.spawn("o", 1, Fake(counts), false, now).expect("spawn");
    let (id, task, _) = slice(&mut core, now);
    assert_eq!(id, sleeper);
    core.finish(id, task, report(Next::Park(Wake::Message), 1, MS), now);
    // The spinner runs alone for 10 s.
    for _ in 0..1000 {
        let (id, task, _) = slice(&mut core, now);
        assert_eq!(id, spinner);
        core.finish(id, task, report(Next::Runnable, 1, 10 * MS), now);
    }
    core.wake(sleeper).expect("live");
    let mut streak = 0;
    loop {
        let (id, task, _) = slice(&mut core, now);
        core.finish(id, task, report(Next::Runnable, 1, 10 * MS), now);
        if id == spinner {
            break;
        }
        streak += 1;
    }
    assert!(streak <= 2, "the sleeper ran {streak} slices in a row");
}

#[test]
fn shutdown_drains_every_live_task_once() {
    let (mut core, counts, now) = core();
    let ids: Vec<TaskId> = (0..5)
        .map(|n| {
            core.spawn(
                if n % 2 == 0 { "a" } else { "b" },
                1,
                Fake(counts.clone()),
                n == 4,
                now,
            )
        })
        .collect::<Result<_, _>>()
        .expect("spawn");
    let (running, task, _) = slice(&mut core, now);
    core.kill(ids[3]).expect("live");
    core.begin_stop();
    assert!(core.pick(now).is_none(), "no jobs while stopping");
    core.finish(running, task, report(Next::Runnable, 1, MS), now);
    let drained: Vec<(TaskId, String)> = core
        .drain()
        .into_iter()
        .map(|(id, owner, _)| (id, owner))
        .collect();
    let expected: Vec<(TaskId, String)> = [0, 1, 2, 4]
        .iter()
        .map(|&n| (ids[n], if n % 2 == 0 { "a" } else { "b" }.to_string()))
        .collect();
    assert_eq!(drained, expected);
    assert!(matches!(
        core.spawn("a", 1, Fake(Arc::default()), false, now),
        Err(Error::ShutDown)
    ));
}

/// With a period, a slice is the task's share of it (owner share times
/// share within the owner, times the workers), between the bounds.
#[test]
fn slices_sized_by_share_of_the_period() {
    let config = Config {
        workers: 2,
        slice: 50 * MS,
        period: Some(100 * MS),
        min_slice: MS,
        ..config()
    };
    let mut core: Core<Fake> = Core::new(&config);
    let counts = Arc::new(Counts::default());
    let now = Instant::now();
    let many: Vec<TaskId> = (0..20)
        .map(|_| {
            core.spawn("many", 1, Fake(counts.clone()), false, now)
                .expect("spawn")
        })
        .collect();
    let one = core
        .spawn("one", 1, Fake(counts.clone()), false, now)
        .expect("spawn");
    let mut seen = std::collections::HashMap::new();
    for _ in 0..4 {
        let (id, task, slice) = slice(&mut core, now);
        seen.insert(id, slice.time);
        core.finish(id, task, report(Next::Runnable, 1, slice.time), now);
    }
    // `one` has half the CPU: 100 ms x 2 workers x 1/2, capped at 50 ms.
    assert_eq!(seen.get(&one), Some(&(50 * MS)), "{seen:?}");
    // A task of `many` has 1/40 of it: 100 ms x 2 x 1/40 = 5 ms.
    let of_many: Vec<Duration> = many.iter().filter_map(|id| seen.get(id).copied()).collect();
    assert!(!of_many.is_empty(), "{seen:?}");
    assert!(of_many.iter().all(|&t| t == 5 * MS), "{of_many:?}");

    // 200 tasks in `many`: 0.5 ms each, raised to the shortest slice.
    for _ in 0..180 {
        core.spawn("many", 1, Fake(counts.clone()), false, now)
            .expect("spawn");
    }
    for _ in 0..8 {
        let (id, task, slice) = slice(&mut core, now);
        if id != one {
            assert_eq!(slice.time, MS);
        }
        core.finish(id, task, report(Next::Runnable, 1, slice.time), now);
    }
}
