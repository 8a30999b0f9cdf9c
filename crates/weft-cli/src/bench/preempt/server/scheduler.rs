//! The scheduler of the server experiment: a fixed set of worker threads
//! serving one arrival sequence, with a quantum (the policy).
//!
//! # Invariants
//!
//! The queues live under one lock ([`Queues`]). Arrivals are admitted
//! lazily: a worker looking for work first moves every request of the
//! sequence whose arrival time has passed into the queue of new arrivals,
//! so admission happens at most a wake-up late, and latency is measured
//! from the scheduled arrival time, never from admission. An idle worker
//! sleeps until the next arrival or until a worker pauses a call (with a
//! timer slack of 1 ns rather than Linux's 50 µs, a tenth of a short
//! request, so that it wakes on time). The experiment ends when the
//! sequence is exhausted, both queues are empty and no worker runs a
//! request; a worker that fails closes the server so that the others stop
//! too.

use super::{Calibration, result, wasm_thread};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasmtime::Val;
use weft_runtime::{Continuation, Outcome, Runtime, ScriptModule};

/// The size of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Short,
    Long,
}

/// A request of an arrival sequence.
#[derive(Clone, Copy)]
pub(super) struct Arrival {
    /// After the start of the experiment.
    pub at: Duration,
    pub kind: Kind,
}

/// What a request has had of the workers so far.
#[derive(Clone, Copy)]
struct Service {
    /// Its index in the arrival sequence.
    request: usize,
    /// Time spent running it.
    run: Duration,
    pauses: u32,
}

/// A request that has started and not completed.
struct InFlight {
    service: Service,
    continuation: Continuation,
}

/// What a worker does next.
enum Job {
    Launch(usize),
    Resume(Box<InFlight>),
}

/// A completed request.
pub(super) struct Served {
    pub kind: Kind,
    /// After the start of the experiment.
    pub completed: Duration,
    /// Completion − arrival.
    pub latency: Duration,
    /// Time spent running it (its launch and resumes).
    pub run: Duration,
    pub pauses: u32,
}

/// The scheduler's state.
#[derive(Default)]
struct Queues {
    /// The first request of the sequence not yet admitted.
    next: usize,
    /// Admitted requests not yet started, in arrival order.
    fresh: VecDeque<usize>,
    /// Paused calls, in the order they paused.
    paused: VecDeque<Box<InFlight>>,
    /// Requests on a worker now.
    running: usize,
    /// Set when every request is served, or a worker failed.
    closed: bool,
}

/// One policy serving one arrival sequence.
pub(super) struct Server<'a> {
    runtime: &'a Runtime,
    module: &'a Arc<ScriptModule>,
    calibration: &'a Calibration,
    arrivals: &'a [Arrival],
    quantum: Duration,
    start: Instant,
    queues: Mutex<Queues>,
    /// Signalled when a call is paused, the last request completes, or the
    /// server closes.
    wake: Condvar,
}

/// Closes the server when a worker stops, however it stops: the others
/// then stop too rather than wait for it.
struct CloseOnExit<'a, 'b>(&'a Server<'b>);

impl Drop for CloseOnExit<'_, '_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl<'a> Server<'a> {
    pub(super) fn new(
        runtime: &'a Runtime,
        module: &'a Arc<ScriptModule>,
        calibration: &'a Calibration,
        arrivals: &'a [Arrival],
        quantum: Duration,
    ) -> Server<'a> {
        Server {
            runtime,
            module,
            calibration,
            arrivals,
            quantum,
            start: Instant::now(),
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops every worker at its next look for work.
    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// Serves every arrival with `workers` threads; the start of the
    /// sequence is now.
    pub(super) fn run(mut self, workers: usize) -> Result<Vec<Served>> {
        self.start = Instant::now();
        let server = &self;
        std::thread::scope(|scope| {
            let threads = (0..workers)
                .map(|i| {
                    wasm_thread(&format!("server-worker-{i}"))
                        .spawn_scoped(scope, move || server.work())
                        .context("cannot start a worker thread")
                })
                .collect::<Vec<_>>();
            if threads.iter().any(Result::is_err) {
                server.close();
            }
            let mut served = Vec::with_capacity(server.arrivals.len());
            let mut failure = None;
            for thread in threads {
                let result = thread.and_then(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                });
                match result {
                    Ok(mine) => served.extend(mine),
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            match failure {
                Some(e) => Err(e),
                None if served.len() != server.arrivals.len() => Err(anyhow!(
                    "served {} of {} requests",
                    served.len(),
                    server.arrivals.len()
                )),
                None => Ok(served),
            }
        })
    }

    /// One worker: takes jobs until the server closes.
    fn work(&self) -> Result<Vec<Served>> {
        let _close = CloseOnExit(self);
        reduce_timer_slack();
        let mut served = Vec::new();
        while let Some(job) = self.next_job() {
            let (mut service, outcome) = match job {
                Job::Launch(request) => {
                    let iterations = match self.arrivals[request].kind {
                        Kind::Short => self.calibration.short_iterations,
                        Kind::Long => self.calibration.long_iterations,
                    };
                    let arg = i64::try_from(iterations).context("too many iterations")?;
                    let started = Instant::now();
                    let outcome =
                        self.runtime
                            .launch(self.module, "work", &[Val::I64(arg)], self.quantum)?;
                    let service = Service {
                        request,
                        run: started.elapsed(),
                        pauses: 0,
                    };
                    (service, outcome)
                }
                Job::Resume(flight) => {
                    let InFlight {
                        mut service,
                        continuation,
                    } = *flight;
                    let started = Instant::now();
                    let outcome = continuation.resume(self.quantum)?;
                    service.run += started.elapsed();
                    (service, outcome)
                }
            };
            match outcome {
                Outcome::Complete { results, .. } => {
                    let completed = self.start.elapsed();
                    served.push(self.check(service, completed, &results)?);
                    self.finished();
                }
                Outcome::Paused(continuation) => {
                    service.pauses += 1;
                    self.pause(Box::new(InFlight {
                        service,
                        continuation,
                    }));
                }
                other => bail!("a request did not complete: {other:?}"),
            }
        }
        Ok(served)
    }

    /// A completed request, once its results are checked against those of
    /// an uninterrupted call.
    fn check(&self, service: Service, completed: Duration, results: &[Val]) -> Result<Served> {
        let arrival = self.arrivals[service.request];
        let expected = match arrival.kind {
            Kind::Short => self.calibration.short_result,
            Kind::Long => self.calibration.long_result,
        };
        let got = result(results)?;
        if got != expected {
            bail!(
                "a {:?} request returned {got}, not {expected} as uninterrupted: preemption \
                 changed its result",
                arrival.kind
            );
        }
        Ok(Served {
            kind: arrival.kind,
            completed,
            latency: completed.saturating_sub(arrival.at),
            run: service.run,
            pauses: service.pauses,
        })
    }

    /// The next job: new arrivals first, then paused calls; `None` once the
    /// server is closed.
    fn next_job(&self) -> Option<Job> {
        let mut queues = self.lock();
        loop {
            if queues.closed {
                return None;
            }
            let now = self.start.elapsed();
            while let Some(arrival) = self.arrivals.get(queues.next) {
                if arrival.at > now {
                    break;
                }
                let next = queues.next;
                queues.fresh.push_back(next);
                queues.next += 1;
            }
            let job = match queues.fresh.pop_front() {
                Some(request) => Some(Job::Launch(request)),
                None => queues.paused.pop_front().map(Job::Resume),
            };
            if let Some(job) = job {
                queues.running += 1;
                return Some(job);
            }
            queues = match self.arrivals.get(queues.next) {
                Some(arrival) => {
                    let wait = arrival.at.saturating_sub(now);
                    self.wake
                        .wait_timeout(queues, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None if queues.running == 0 => {
                    queues.closed = true;
                    self.wake.notify_all();
                    return None;
                }
                None => self.wake.wait(queues).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    fn pause(&self, flight: Box<InFlight>) {
        let mut queues = self.lock();
        queues.running -= 1;
        queues.paused.push_back(flight);
        drop(queues);
        self.wake.notify_one();
    }

    fn finished(&self) {
        let mut queues = self.lock();
        queues.running -= 1;
        // Workers waiting for the last requests may now stop.
        if queues.running == 0 && queues.next == self.arrivals.len() {
            drop(queues);
            self.wake.notify_all();
        }
    }
}

/// Asks the kernel to wake this thread on time from timed waits (Linux's
/// default timer slack is 50 µs, a tenth of a short request).
fn reduce_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only the
    // calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}
