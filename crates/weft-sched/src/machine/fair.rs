//! The hierarchical fair queue: owners share the CPU by weight, then the
//! tasks of an owner share the owner's part by weight (CFS group scheduling
//! with two levels).
//!
//! # Virtual runtime
//!
//! Every owner and every task has a *virtual runtime* (`vruntime`), the CPU
//! time it used divided by its weight (times [`SCALE`], in `u128` so that it
//! never overflows). The queue runs the runnable owner with the least
//! vruntime, and within it the runnable task with the least vruntime: an
//! entity that used less than its share is behind and is picked first, so
//! over time every entity gets CPU in proportion to its weight, however many
//! tasks its siblings have. An owner with 9,000 tasks and an owner with one
//! each get half, because the owner level does not see task counts.
//!
//! # Invariants
//!
//! - An owner is in `queue`, keyed by its vruntime, iff its `tasks` set is not
//!   empty; a task is in its owner's `tasks`, keyed by its vruntime, iff it is
//!   *queued* (runnable, not paused, not running).
//! - `active` counts an owner's queued and running tasks.
//! - `min_vruntime` (global for owners, per owner for its tasks) never
//!   decreases: it is the largest vruntime ever picked at that level.
//!
//! # Placement (bounded credit)
//!
//! A task that becomes runnable after being idle (spawned, woken, resumed)
//! starts at `max(own vruntime, min_vruntime - credit)`, with the credit
//! worth [`Config::wake_credit`](crate::Config::wake_credit) of CPU at its
//! weight: it may run about that much ahead of the others, never more however
//! long it slept. An owner that goes from no active task to one is placed the
//! same way among owners. A task that just ran and is still runnable goes
//! back at its own vruntime: it is no newcomer.
//!
//! # Several workers
//!
//! With N workers, several picks happen before any slice is charged. So that
//! they spread across owners by weight, picking an owner charges it a
//! *provisional* slice at once; the charge is corrected to the measured CPU
//! time when the slice ends.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::TaskId;
use crate::stats::Usage;

/// Fixed-point scale of vruntimes: a vruntime is `cpu_ns * SCALE / weight`.
pub(crate) const SCALE: u128 = 1 << 32;

/// The index of an owner in [`FairQueue::owners`].
pub(crate) type OwnerIdx = usize;

/// Virtual time for `cpu` at `weight`.
fn virtual_time(cpu: Duration, weight: u32) -> u128 {
    cpu.as_nanos() * SCALE / u128::from(weight.max(1))
}

/// One owner (tenant).
#[derive(Debug)]
pub(crate) struct Owner {
    pub(crate) name: String,
    pub(crate) weight: u32,
    vruntime: u128,
    /// The key under which the owner is in [`FairQueue::queue`], if it is.
    queued_key: Option<u128>,
    /// Follows the least task vruntime queued in this owner; never decreases.
    min_vruntime: u128,
    /// Queued tasks by vruntime.
    tasks: BTreeSet<(u128, TaskId)>,
    /// Queued plus running tasks.
    pub(crate) active: usize,
    /// The sum of their weights.
    active_weight: u64,
    /// Live tasks.
    pub(crate) live: usize,
    pub(crate) cpu: Duration,
    pub(crate) fuel: u64,
    pub(crate) usage: Usage,
}

/// The two-level queue of queued tasks, and the owners' accounting.
#[derive(Debug)]
pub(crate) struct FairQueue {
    owners: Vec<Owner>,
    by_name: HashMap<String, OwnerIdx>,
    /// Owners with queued tasks, by vruntime.
    queue: BTreeSet<(u128, OwnerIdx)>,
    min_vruntime: u128,
    /// Queued tasks over all owners.
    queued: usize,
    /// The sum of the weights of the owners with active tasks.
    active_owner_weight: u64,
    /// The provisional charge of a pick.
    slice: Duration,
    /// The bounded credit of a newly runnable entity.
    credit: Duration,
}

impl FairQueue {
    pub(crate) fn new(slice: Duration, credit: Duration) -> Self {
        Self {
            owners: Vec::new(),
            by_name: HashMap::new(),
            queue: BTreeSet::new(),
            min_vruntime: 0,
            queued: 0,
            active_owner_weight: 0,
            slice,
            credit,
        }
    }

    /// The owner named `name`, created with weight 1 if it is new.
    pub(crate) fn owner_named(&mut self, name: &str, now: Instant) -> OwnerIdx {
        if let Some(&idx) = self.by_name.get(name) {
            return idx;
        }
        let idx = self.owners.len();
        self.owners.push(Owner {
            name: name.to_string(),
            weight: 1,
            vruntime: 0,
            queued_key: None,
            min_vruntime: 0,
            tasks: BTreeSet::new(),
            active: 0,
            active_weight: 0,
            live: 0,
            cpu: Duration::ZERO,
            fuel: 0,
            usage: Usage::new(now),
        });
        self.by_name.insert(name.to_string(), idx);
        idx
    }

    pub(crate) fn owner(&self, idx: OwnerIdx) -> &Owner {
        &self.owners[idx]
    }

    pub(crate) fn owner_mut(&mut self, idx: OwnerIdx) -> &mut Owner {
        &mut self.owners[idx]
    }

    pub(crate) fn owners(&self) -> &[Owner] {
        &self.owners
    }

    /// An owner's virtual runtime.
    #[cfg(test)]
    pub(crate) fn owner_vruntime(&self, idx: OwnerIdx) -> u128 {
        self.owners[idx].vruntime
    }

    /// Tasks queued over all owners.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Puts the owner in (or moves it within) the owner queue according to
    /// its vruntime and whether it has queued tasks.
    /// Also moves the minimum vruntimes up to the least queued ones.
    fn rekey(&mut self, idx: OwnerIdx) {
        let owner = &mut self.owners[idx];
        if let Some(old) = owner.queued_key.take() {
            self.queue.remove(&(old, idx));
        }
        if let Some(&(least, _)) = owner.tasks.first() {
            owner.min_vruntime = owner.min_vruntime.max(least);
            owner.queued_key = Some(owner.vruntime);
            self.queue.insert((owner.vruntime, idx));
        }
        if let Some(&(least, _)) = self.queue.first() {
            self.min_vruntime = self.min_vruntime.max(least);
        }
    }

    /// Queues a task that was idle (spawned, woken, resumed), with bounded
    /// credit at both levels.
    pub(crate) fn enqueue_new(
        &mut self,
        idx: OwnerIdx,
        id: TaskId,
        vruntime: &mut u128,
        weight: u32,
    ) {
        let global_min = self.min_vruntime;
        let credit = self.credit;
        let owner = &mut self.owners[idx];
        if owner.active == 0 {
            let floor = global_min.saturating_sub(virtual_time(credit, owner.weight));
            owner.vruntime = owner.vruntime.max(floor);
        }
        self.activate(idx, weight);
        let owner = &mut self.owners[idx];
        let floor = owner
            .min_vruntime
            .saturating_sub(virtual_time(credit, weight));
        *vruntime = (*vruntime).max(floor);
        owner.tasks.insert((*vruntime, id));
        self.queued += 1;
        self.rekey(idx);
    }

    /// Queues again a task that just ran (after [`stop_running`](Self::stop_running))
    /// and stays runnable: no placement, it is no newcomer.
    pub(crate) fn requeue(&mut self, idx: OwnerIdx, id: TaskId, vruntime: u128, weight: u32) {
        self.activate(idx, weight);
        self.owners[idx].tasks.insert((vruntime, id));
        self.queued += 1;
        self.rekey(idx);
    }

    /// Takes a queued task out (paused or killed while queued).
    pub(crate) fn remove_queued(&mut self, idx: OwnerIdx, id: TaskId, vruntime: u128, weight: u32) {
        let removed = self.owners[idx].tasks.remove(&(vruntime, id));
        debug_assert!(removed, "{id} was not queued");
        if removed {
            self.deactivate(idx, weight);
            self.queued -= 1;
        }
        self.rekey(idx);
    }

    /// A running task stops being active (parked, paused, finished, killed).
    pub(crate) fn stop_running(&mut self, idx: OwnerIdx, weight: u32) {
        self.deactivate(idx, weight);
    }

    /// A task of weight `weight` becomes active (queued or running).
    fn activate(&mut self, idx: OwnerIdx, weight: u32) {
        let owner = &mut self.owners[idx];
        if owner.active == 0 {
            self.active_owner_weight += u64::from(owner.weight);
        }
        owner.active += 1;
        owner.active_weight += u64::from(weight);
    }

    fn deactivate(&mut self, idx: OwnerIdx, weight: u32) {
        let owner = &mut self.owners[idx];
        owner.active -= 1;
        owner.active_weight -= u64::from(weight);
        if owner.active == 0 {
            self.active_owner_weight -= u64::from(owner.weight);
        }
    }

    /// An active task's weight changes from `old` to `new`.
    pub(crate) fn reweigh_active(&mut self, idx: OwnerIdx, old: u32, new: u32) {
        let owner = &mut self.owners[idx];
        owner.active_weight = owner.active_weight - u64::from(old) + u64::from(new);
    }

    /// Sets an owner's weight.
    pub(crate) fn set_owner_weight(&mut self, idx: OwnerIdx, weight: u32) {
        let owner = &mut self.owners[idx];
        if owner.active > 0 {
            self.active_owner_weight =
                self.active_owner_weight - u64::from(owner.weight) + u64::from(weight);
        }
        owner.weight = weight;
    }

    /// The share of the CPU an active task of weight `weight` of owner `idx`
    /// is due: its owner's share among the active owners, times its share
    /// among the owner's active tasks.
    pub(crate) fn share(&self, idx: OwnerIdx, weight: u32) -> f64 {
        let owner = &self.owners[idx];
        let of_owners = f64::from(owner.weight) / self.active_owner_weight.max(1) as f64;
        of_owners * f64::from(weight) / owner.active_weight.max(1) as f64
    }

    /// Replaces the provisional charge of the pick that returned `provisional`
    /// with one for a slice of `slice`.
    pub(crate) fn reprovision(&mut self, idx: OwnerIdx, provisional: &mut u128, slice: Duration) {
        *provisional = self.replace_owner_charge(idx, *provisional, slice);
    }

    /// Replaces `old`, a charge made to owner `idx`, with one for `cpu`;
    /// returns the new charge. On its own it charges the owner alone.
    pub(crate) fn replace_owner_charge(&mut self, idx: OwnerIdx, old: u128, cpu: Duration) -> u128 {
        let owner = &mut self.owners[idx];
        let new = virtual_time(cpu, owner.weight);
        owner.vruntime = owner.vruntime.saturating_sub(old) + new;
        if owner.queued_key.is_some() {
            self.rekey(idx);
        }
        new
    }

    /// Takes the next task to run: the least-vruntime task of the
    /// least-vruntime owner. Returns it with the provisional charge made to
    /// its owner, to pass back to [`charge`](Self::charge).
    pub(crate) fn pick(&mut self) -> Option<(OwnerIdx, TaskId, u128)> {
        let &(owner_vruntime, idx) = self.queue.first()?;
        self.min_vruntime = self.min_vruntime.max(owner_vruntime);
        let owner = &mut self.owners[idx];
        let (task_vruntime, id) = owner.tasks.pop_first()?;
        owner.min_vruntime = owner.min_vruntime.max(task_vruntime);
        let provisional = virtual_time(self.slice, owner.weight);
        owner.vruntime += provisional;
        self.queued -= 1;
        self.rekey(idx);
        Some((idx, id, provisional))
    }

    /// Charges `cpu` to a task (which is not queued) and its owner, replacing
    /// the owner's provisional charge.
    pub(crate) fn charge(
        &mut self,
        idx: OwnerIdx,
        vruntime: &mut u128,
        weight: u32,
        provisional: u128,
        cpu: Duration,
    ) {
        *vruntime += virtual_time(cpu, weight);
        self.replace_owner_charge(idx, provisional, cpu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `picks` slices of `slice` on one worker over the queue, all tasks
    /// always runnable, and returns the CPU per owner.
    fn simulate(
        queue: &mut FairQueue,
        tasks: &mut HashMap<TaskId, (OwnerIdx, u128, u32)>,
        picks: usize,
    ) -> Vec<Duration> {
        let slice = Duration::from_millis(10);
        let mut cpu = vec![Duration::ZERO; queue.owners().len()];
        for _ in 0..picks {
            let (idx, id, provisional) = queue.pick().expect("something is queued");
            let (_, vruntime, weight) = tasks.get_mut(&id).expect("known task");
            queue.charge(idx, vruntime, *weight, provisional, slice);
            queue.stop_running(idx, *weight);
            queue.requeue(idx, id, *vruntime, *weight);
            cpu[idx] += slice;
        }
        cpu
    }

    #[test]
    fn an_owner_with_one_task_is_not_starved_by_one_with_9000() {
        let now = Instant::now();
        let mut queue = FairQueue::new(Duration::from_millis(10), Duration::from_millis(10));
        let many = queue.owner_named("many", now);
        let one = queue.owner_named("one", now);
        let mut tasks = HashMap::new();
        for n in 0..9001 {
            let idx = if n == 9000 { one } else { many };
            let id = TaskId(n);
            let mut vruntime = 0;
            queue.enqueue_new(idx, id, &mut vruntime, 1);
            tasks.insert(id, (idx, vruntime, 1));
        }
        let cpu = simulate(&mut queue, &mut tasks, 20_000);
        assert_eq!(cpu[many], cpu[one], "{cpu:?}");
    }

    #[test]
    fn owner_and_task_weights_share_the_cpu() {
        let now = Instant::now();
        let mut queue = FairQueue::new(Duration::from_millis(10), Duration::from_millis(10));
        let light = queue.owner_named("light", now);
        let heavy = queue.owner_named("heavy", now);
        queue.set_owner_weight(heavy, 3);
        let mut tasks = HashMap::new();
        // Within `light`, weights 1 and 4.
        for (n, idx, weight) in [(0, light, 1), (1, light, 4), (2, heavy, 1)] {
            let mut vruntime = 0;
            queue.enqueue_new(idx, TaskId(n), &mut vruntime, weight);
            tasks.insert(TaskId(n), (idx, vruntime, weight));
        }
        let cpu = simulate(&mut queue, &mut tasks, 4000);
        assert_eq!(cpu[heavy], 3 * cpu[light], "{cpu:?}");
        let ratio = tasks[&TaskId(1)].1 as f64 / tasks[&TaskId(0)].1 as f64;
        // Equal vruntimes mean CPU in the ratio of the weights.
        assert!((ratio - 1.0).abs() < 0.05, "{ratio}");
    }

    #[test]
    fn a_newcomer_gets_bounded_credit() {
        let now = Instant::now();
        let slice = Duration::from_millis(10);
        let mut queue = FairQueue::new(slice, slice);
        let owner = queue.owner_named("o", now);
        let mut tasks = HashMap::new();
        let mut vruntime = 0;
        queue.enqueue_new(owner, TaskId(0), &mut vruntime, 1);
        tasks.insert(TaskId(0), (owner, vruntime, 1));
        simulate(&mut queue, &mut tasks, 1000); // 10 s for task 0 alone.
        let mut late = 0;
        queue.enqueue_new(owner, TaskId(1), &mut late, 1);
        tasks.insert(TaskId(1), (owner, late, 1));
        // The newcomer runs one slice (its credit) before task 0 gets its
        // turn again, not the 10 s it was away.
        let mut streak = 0;
        loop {
            let (idx, id, provisional) = queue.pick().expect("queued");
            let (_, vruntime, weight) = tasks.get_mut(&id).expect("known");
            queue.charge(idx, vruntime, *weight, provisional, slice);
            queue.stop_running(idx, *weight);
            queue.requeue(idx, id, *vruntime, *weight);
            if id == TaskId(0) {
                break;
            }
            streak += 1;
        }
        assert_eq!(streak, 1, "the newcomer ran {streak} slices in a row");
    }
}
