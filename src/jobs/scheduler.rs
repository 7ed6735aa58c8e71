//! The one scheduler. Every job (clean-ups, the outbox, legal holds, key lifetimes, each
//! retention rule) is registered here with its schedule; each job's next run is kept in the
//! database, so a run missed while Lethe was down happens once at the next start; a job never
//! runs twice at once; at shutdown the scheduler stops launching and asks running jobs to stop
//! between batches.

use crate::domain::schedule::CronSchedule;
use crate::domain::time::Clock;
use crate::error::AppError;
use crate::store::jobs::{self, JobState};
use crate::store::{Db, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The longest the scheduler sleeps: new rules and runs to resume are seen within this.
const MAX_SLEEP: Duration = Duration::seconds(5);

/// Asked once, at shutdown; long jobs check it between batches.
#[derive(Clone, Default)]
pub struct StopSignal {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl StopSignal {
    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// What a running job gets.
pub struct JobRun<'a> {
    pub db: &'a Db,
    pub now: DateTime<Utc>,
    pub stop: &'a StopSignal,
}

/// What a job does; it runs on a blocking thread and returns a one-line summary ("" when it
/// found nothing to do).
pub type JobFn = Arc<dyn Fn(&JobRun<'_>) -> Result<String, AppError> + Send + Sync>;

#[derive(Clone)]
pub struct Job {
    /// Unique; `retention/<workspace>/<rule>` for rules.
    pub name: String,
    pub schedule: CronSchedule,
    /// Also run as soon as Lethe starts (upgrades that should not wait for the schedule).
    pub at_start: bool,
    /// Due now whatever the schedule, without moving the next scheduled run: a run cut short
    /// that should resume.
    pub due_now: bool,
    pub run: JobFn,
}

impl Job {
    pub fn new(
        name: impl Into<String>,
        schedule: CronSchedule,
        run: impl Fn(&JobRun<'_>) -> Result<String, AppError> + Send + Sync + 'static,
    ) -> Job {
        Job {
            name: name.into(),
            schedule,
            at_start: false,
            due_now: false,
            run: Arc::new(run),
        }
    }

    pub fn at_start(mut self) -> Job {
        self.at_start = true;
        self
    }
}

/// Jobs that come and go with the data, asked for at every pass (one per retention rule).
pub type JobSource = Arc<dyn Fn(&Db) -> Result<Vec<Job>, AppError> + Send + Sync>;

/// What a pass does with one job.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    /// Not due: store this next run (new job, or its schedule changed) and wait.
    Plan(Option<DateTime<Utc>>),
    /// Due: run it; store this next run first (None keeps the stored one).
    Launch(Option<DateTime<Utc>>),
    Wait(DateTime<Utc>),
}

fn decide(job: &Job, stored: Option<&JobState>, now: DateTime<Utc>, first_pass: bool) -> Decision {
    let next = job.schedule.next_after(now);
    let changed = stored.is_none_or(|s| s.schedule != job.schedule.source());
    if first_pass && job.at_start {
        return Decision::Launch(next);
    }
    match stored {
        Some(s) if !changed && s.next_run_at <= now => Decision::Launch(next),
        _ if job.due_now => Decision::Launch(if changed { next } else { None }),
        Some(s) if !changed => Decision::Wait(s.next_run_at),
        _ => Decision::Plan(next),
    }
}

pub struct Scheduler {
    db: Db,
    clock: Arc<dyn Clock>,
    fixed: Vec<Job>,
    sources: Vec<JobSource>,
    stop: StopSignal,
    running: Arc<Mutex<HashSet<String>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Scheduler {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Scheduler {
        Scheduler::with_stop(db, clock, StopSignal::default())
    }

    /// A scheduler whose stop is also seen by work started elsewhere (runs started by hand).
    pub fn with_stop(db: Db, clock: Arc<dyn Clock>, stop: StopSignal) -> Scheduler {
        Scheduler {
            db,
            clock,
            fixed: Vec::new(),
            sources: Vec::new(),
            stop,
            running: Arc::default(),
            tasks: Mutex::default(),
        }
    }

    pub fn add(&mut self, job: Job) {
        self.fixed.push(job);
    }

    pub fn add_source(&mut self, source: JobSource) {
        self.sources.push(source);
    }

    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    fn jobs(&self) -> Vec<Job> {
        let mut all = self.fixed.clone();
        for source in &self.sources {
            match source(&self.db) {
                Ok(jobs) => all.extend(jobs),
                Err(e) => tracing::error!(error = %e, "listing scheduled jobs failed"),
            }
        }
        all
    }

    /// One pass (blocking: it reads and writes the database): plans new jobs, launches the due
    /// ones on blocking threads. Returns when to look again.
    pub fn tick(&self, first_pass: bool) -> Result<DateTime<Utc>, StoreError> {
        let now = self.clock.now();
        let mut wake = now + MAX_SLEEP;
        if self.stop.is_set() {
            return Ok(wake);
        }
        let jobs = self.jobs();
        let stored = self.db.read(jobs::all)?;
        for job in jobs {
            if self.is_running(&job.name) {
                continue;
            }
            match decide(&job, stored.get(&job.name), now, first_pass) {
                Decision::Wait(at) => wake = wake.min(at),
                Decision::Plan(next) => {
                    // A schedule that never fires again (a year long past) parks the job.
                    let at = next.unwrap_or(crate::domain::time::latest());
                    self.db
                        .write(|tx| jobs::plan(tx, &job.name, job.schedule.source(), at))?;
                    wake = wake.min(at);
                }
                Decision::Launch(next) => {
                    let source = job.schedule.source().to_owned();
                    self.db.write(|tx| {
                        if stored.get(&job.name).is_none_or(|s| s.schedule != source) {
                            let at = next.unwrap_or(crate::domain::time::latest());
                            jobs::plan(tx, &job.name, &source, at)?;
                        }
                        jobs::started(tx, &job.name, now, next)
                    })?;
                    self.launch(job);
                }
            }
        }
        Ok(wake.max(now + Duration::milliseconds(200)))
    }

    fn is_running(&self, name: &str) -> bool {
        self.running.lock().is_ok_and(|r| r.contains(name))
    }

    fn launch(&self, job: Job) {
        if let Ok(mut r) = self.running.lock() {
            r.insert(job.name.clone());
        }
        let (db, clock, stop, running) = (
            self.db.clone(),
            self.clock.clone(),
            self.stop.clone(),
            self.running.clone(),
        );
        let task = tokio::task::spawn_blocking(move || {
            let run = JobRun {
                db: &db,
                now: clock.now(),
                stop: &stop,
            };
            let result = (job.run)(&run);
            let (ok, outcome) = match &result {
                Ok(summary) => (true, summary.clone()),
                Err(e) => (false, format!("failed: {e}")),
            };
            match &result {
                Ok(s) if s.is_empty() => {}
                Ok(s) => tracing::info!(job = %job.name, "{s}"),
                Err(e) => {
                    e.log();
                    tracing::error!(job = %job.name, error = %e, "job failed");
                }
            }
            let finished_at = clock.now();
            if let Err(e) = db.write(|tx| jobs::finished(tx, &job.name, finished_at, ok, &outcome))
            {
                tracing::error!(job = %job.name, error = %e, "recording the job's outcome failed");
            }
            if let Ok(mut r) = running.lock() {
                r.remove(&job.name);
            }
        });
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Runs passes until [`Scheduler::shutdown`].
    pub fn start(self: &Arc<Self>) -> JoinHandle<()> {
        let scheduler = self.clone();
        tokio::spawn(async move {
            let mut first = true;
            while !scheduler.stop.is_set() {
                let s = scheduler.clone();
                let wake = match tokio::task::spawn_blocking(move || s.tick(first)).await {
                    Ok(Ok(wake)) => wake,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "scheduler pass failed");
                        scheduler.clock.now() + MAX_SLEEP
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "scheduler pass panicked");
                        scheduler.clock.now() + MAX_SLEEP
                    }
                };
                first = false;
                let wait = (wake - scheduler.clock.now())
                    .to_std()
                    .unwrap_or_default()
                    .min(MAX_SLEEP.to_std().unwrap_or_default());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = scheduler.stop.notify.notified() => {}
                }
            }
        })
    }

    /// Stops launching, asks running jobs to stop between batches and waits for them (at most
    /// `grace`).
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.stop.set();
        let tasks: Vec<JoinHandle<()>> = self
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        let all = futures_join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("jobs still running at shutdown; they resume at the next start");
        }
    }
}

async fn futures_join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::FixedClock;
    use chrono::TimeZone;
    use std::sync::atomic::AtomicUsize;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
    }

    fn counting(name: &str, schedule: &str, count: Arc<AtomicUsize>) -> Job {
        Job::new(name, CronSchedule::parse(schedule).unwrap(), move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(String::new())
        })
    }

    fn fixture() -> (tempfile::TempDir, Db, Arc<FixedClock>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lethe.db")).unwrap();
        (dir, db, Arc::new(FixedClock::new(at(9, 30))))
    }

    async fn settle(s: &Scheduler) {
        let tasks: Vec<_> = s.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_new_job_waits_for_its_first_firing_then_runs_once_per_firing() {
        let (_dir, db, clock) = fixture();
        let count = Arc::new(AtomicUsize::new(0));
        let mut s = Scheduler::new(db.clone(), clock.clone());
        s.add(counting("hourly", "0 * * * *", count.clone()));
        let s = Arc::new(s);
        assert_eq!(s.tick(true).unwrap(), at(9, 30) + MAX_SLEEP);
        settle(&s).await;
        assert_eq!(count.load(Ordering::SeqCst), 0);
        clock.set(at(10, 0));
        s.tick(false).unwrap();
        settle(&s).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        s.tick(false).unwrap();
        settle(&s).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "not twice for one firing");
        let state = db.read(jobs::all).unwrap().remove("hourly").unwrap();
        assert_eq!(state.next_run_at, at(11, 0));
        assert!(state.last_success_at.is_some());
    }

    #[tokio::test]
    async fn runs_missed_while_down_happen_once_at_the_next_start() {
        let (_dir, db, clock) = fixture();
        let count = Arc::new(AtomicUsize::new(0));
        let job = || counting("hourly", "0 * * * *", count.clone());
        let mut s = Scheduler::new(db.clone(), clock.clone());
        s.add(job());
        Arc::new(s).tick(true).unwrap();
        // Lethe is down from 09:30 until 14:10: four firings missed.
        clock.set(at(14, 10));
        let mut restarted = Scheduler::new(db.clone(), clock.clone());
        restarted.add(job());
        let restarted = Arc::new(restarted);
        restarted.tick(true).unwrap();
        settle(&restarted).await;
        restarted.tick(false).unwrap();
        settle(&restarted).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let state = db.read(jobs::all).unwrap().remove("hourly").unwrap();
        assert_eq!(state.next_run_at, at(15, 0));
    }

    #[tokio::test]
    async fn a_changed_schedule_is_replanned_and_start_jobs_run_at_start() {
        let (_dir, db, clock) = fixture();
        let count = Arc::new(AtomicUsize::new(0));
        let mut s = Scheduler::new(db.clone(), clock.clone());
        s.add(counting("daily", "@daily", count.clone()).at_start());
        let s = Arc::new(s);
        s.tick(true).unwrap();
        settle(&s).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "ran at start");
        let mut s2 = Scheduler::new(db.clone(), clock.clone());
        s2.add(counting("daily", "45 9 * * *", count.clone()));
        let s2 = Arc::new(s2);
        s2.tick(false).unwrap();
        let state = db.read(jobs::all).unwrap().remove("daily").unwrap();
        assert_eq!(state.next_run_at, at(9, 45));
        assert_eq!(state.schedule, "45 9 * * *");
    }

    #[test]
    fn a_run_to_resume_is_due_now_without_moving_the_schedule() {
        let job = Job {
            due_now: true,
            ..counting("r", "@daily", Arc::default())
        };
        let stored = JobState {
            name: "r".into(),
            schedule: "@daily".into(),
            next_run_at: at(23, 0),
            last_started_at: None,
            last_finished_at: None,
            last_success_at: None,
            last_outcome: String::new(),
        };
        assert_eq!(
            decide(&job, Some(&stored), at(9, 0), false),
            Decision::Launch(None)
        );
    }

    #[tokio::test]
    async fn a_running_job_is_not_launched_again_and_stop_is_seen_by_the_job() {
        let (_dir, db, clock) = fixture();
        let (started, stopped) = (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)));
        let (s1, s2) = (started.clone(), stopped.clone());
        let mut s = Scheduler::new(db.clone(), clock.clone());
        s.add(
            Job::new("long", CronSchedule::parse("@daily").unwrap(), move |run| {
                s1.notify_one();
                while !run.stop.is_set() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                s2.store(true, Ordering::SeqCst);
                Ok("stopped between batches".into())
            })
            .at_start(),
        );
        let s = Arc::new(s);
        s.tick(true).unwrap();
        started.notified().await;
        assert!(s.is_running("long"));
        s.tick(true).unwrap();
        assert_eq!(s.tasks.lock().unwrap().len(), 1, "not launched twice");
        s.shutdown(std::time::Duration::from_secs(5)).await;
        assert!(stopped.load(Ordering::SeqCst));
        let state = db.read(jobs::all).unwrap().remove("long").unwrap();
        assert_eq!(state.last_outcome, "stopped between batches");
    }
}
