//! What the state machine reports: states, accounting, exits.

use std::time::Instant;

use super::{Core, Entry};
use crate::stats::{TaskState, TaskStats};
use crate::{OwnerStats, Task, TaskId};

impl<T: Task> Core<T> {
    /// The tasks running a slice now.
    pub fn running(&self) -> Vec<TaskId> {
        self.running
            .iter()
            .copied()
            .filter(|id| self.tasks.get(id).is_some_and(|e| !e.killed))
            .collect()
    }

    /// The state of a live task.
    pub fn state(&self, id: TaskId) -> Option<TaskState> {
        self.tasks
            .get(&id)
            .filter(|e| !e.killed)
            .map(Entry::public_state)
    }

    /// A live task's accounting.
    pub fn stats(&self, id: TaskId, now: Instant) -> Option<TaskStats> {
        let entry = self.tasks.get(&id).filter(|e| !e.killed)?;
        Some(TaskStats {
            id,
            owner: self.fair.owner(entry.owner).name.clone(),
            weight: entry.weight,
            state: entry.public_state(),
            cpu: entry.cpu,
            fuel: entry.fuel,
            usage: entry.usage.rate(now, self.window),
            slices: entry.slices,
            fuel_rate: entry.fuel_rate,
            hibernated: entry.hibernated,
            memory_bytes: entry.memory_bytes,
        })
    }

    /// Every live task's accounting, in id order.
    pub fn all_stats(&self, now: Instant) -> Vec<TaskStats> {
        let mut ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, e)| !e.killed)
            .map(|(&id, _)| id)
            .collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| self.stats(id, now))
            .collect()
    }

    /// Every owner's accounting, in the order they were first seen.
    pub fn owners(&self, now: Instant) -> Vec<OwnerStats> {
        self.fair
            .owners()
            .iter()
            .map(|owner| OwnerStats {
                name: owner.name.clone(),
                weight: owner.weight,
                cpu: owner.cpu,
                fuel: owner.fuel,
                usage: owner.usage.rate(now, self.window),
                tasks: owner.live,
                runnable: owner.active,
            })
            .collect()
    }

    /// The exit of a finished task, taken out.
    pub fn take_exit(&mut self, id: TaskId) -> Option<String> {
        self.exits.remove(&id)
    }

    /// Every exit not taken yet, in id order.
    pub fn take_exits(&mut self) -> Vec<(TaskId, String)> {
        let mut exits: Vec<_> = self.exits.drain().collect();
        exits.sort_by_key(|&(id, _)| id);
        exits
    }
}
