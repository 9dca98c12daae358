//! Database work done in batches: cache misses looked up together, tokens
//! created together. A miss on its own costs a hand-off to the blocking
//! pool, a round trip to the database and a hand-off back, and a creation
//! alone nine round trips: under load those cost more CPU than the rows
//! themselves. Items that arrive while a batch runs wait for the next one
//! instead, which is one query (or one transaction) for all of them.
//!
//! One batch runs at a time while the database keeps up: fewer, larger
//! batches are what saves the work (with four at once on two cores, batches
//! held two misses and the service answered 24k lookups a second; with one,
//! twelve and 60k). An item that waits longer than `patience` starts another
//! batch beside the running ones (up to `most`), so a connection that stalls
//! holds only its own batch; and every waiter gives up at its own deadline
//! (`503`), whatever its batch does, as a request on its own would.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

/// Answers items in batches with `work`, on the blocking pool.
pub(crate) struct Batches<I, A> {
    shared: Arc<Shared<I, A>>,
}

impl<I, A> Clone for Batches<I, A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// Why a waiter has no answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// Its deadline passed first.
    TimedOut,
    /// Its batch ended without answering it (the work panicked; a defect).
    Lost,
}

/// One batch's work: an answer for each item, in their order.
type Work<I, A> = Box<dyn Fn(Vec<I>) -> Vec<A> + Send + Sync>;

struct Shared<I, A> {
    queue: Mutex<Queue<I, A>>,
    work: Work<I, A>,
    /// Batches that may run at once.
    most: usize,
    /// How long an item waits before it starts a batch beside the running.
    patience: Duration,
    /// The most items one batch takes.
    largest: usize,
}

struct Queue<I, A> {
    waiting: Vec<(I, oneshot::Sender<A>)>,
    running: usize,
}

impl<I: Send + 'static, A: Send + 'static> Batches<I, A> {
    pub(crate) fn new(
        most: usize,
        largest: usize,
        patience: Duration,
        work: impl Fn(Vec<I>) -> Vec<A> + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    waiting: Vec::new(),
                    running: 0,
                }),
                work: Box::new(work),
                most: most.max(1),
                patience,
                largest: largest.max(1),
            }),
        }
    }

    /// `item`'s answer, from the batch it joins; [`Missed::TimedOut`] once
    /// `deadline` passes.
    pub(crate) async fn answer(&self, item: I, deadline: Duration) -> Result<A, Missed> {
        let (sender, mut receiver) = oneshot::channel();
        let lead = {
            let mut queue = self.shared.lock();
            queue.waiting.push((item, sender));
            let first = queue.running == 0;
            queue.claim(first)
        };
        if lead {
            self.shared.start_turn();
        }
        let patience = self.shared.patience.min(deadline);
        let answered = match actix_web::rt::time::timeout(patience, &mut receiver).await {
            Ok(answered) => answered,
            Err(_) => {
                // The running batches may be stalled: another one takes
                // what waits, if there may be another.
                let more = {
                    let mut queue = self.shared.lock();
                    let room = !queue.waiting.is_empty() && queue.running < self.shared.most;
                    queue.claim(room)
                };
                if more {
                    self.shared.start_turn();
                }
                actix_web::rt::time::timeout(deadline - patience, receiver)
                    .await
                    .map_err(|_| Missed::TimedOut)?
            }
        };
        answered.map_err(|_| Missed::Lost)
    }

    /// Items waiting for a batch (tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.shared.lock().waiting.len()
    }

    /// Turns running or claimed (tests).
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.shared.lock().running
    }
}

impl<I, A> Shared<I, A> {
    fn lock(&self) -> MutexGuard<'_, Queue<I, A>> {
        // Nothing panics while holding it: the queue is always whole.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<I: Send + 'static, A: Send + 'static> Shared<I, A> {
    /// Runs a turn [`Queue::claim`]ed for it on the blocking pool.
    fn start_turn(self: &Arc<Self>) {
        // Made before the spawn: a task dropped unrun still frees its place.
        let turn = Turn {
            shared: self.clone(),
            given_back: false,
        };
        drop(actix_web::rt::task::spawn_blocking(move || turn.run()));
    }
}

impl<I, A> Queue<I, A> {
    /// Counts one more running turn if `wanted`; whether it did.
    fn claim(&mut self, wanted: bool) -> bool {
        if wanted {
            self.running += 1;
        }
        wanted
    }
}

/// One of the (at most `most`) turns: runs batches while items wait.
struct Turn<I, A> {
    shared: Arc<Shared<I, A>>,
    given_back: bool,
}

impl<I, A> Turn<I, A> {
    fn run(mut self) {
        loop {
            let batch: Vec<(I, oneshot::Sender<A>)> = {
                let mut queue = self.shared.lock();
                if queue.waiting.is_empty() {
                    // Under the lock a newcomer sees: it then leads a turn.
                    queue.running -= 1;
                    self.given_back = true;
                    return;
                }
                let take = queue.waiting.len().min(self.shared.largest);
                // The oldest first: they are the nearest their deadline.
                queue.waiting.drain(..take).collect()
            };
            // Those that gave up are not looked up.
            let (items, senders): (Vec<I>, Vec<oneshot::Sender<A>>) = batch
                .into_iter()
                .filter(|(_, sender)| !sender.is_closed())
                .unzip();
            if items.is_empty() {
                continue;
            }
            // A defect in one batch loses its waiters (their senders are
            // dropped: `500`), not this turn.
            // The items' requests' spans are not this thread's: what the
            // work logs is the batch's.
            let span = tracing::info_span!("batch", items = items.len());
            let Ok(answers) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                span.in_scope(|| (self.shared.work)(items))
            })) else {
                continue;
            };
            debug_assert_eq!(answers.len(), senders.len(), "an answer for each item");
            for (sender, answer) in senders.into_iter().zip(answers) {
                // Its waiter may have given up meanwhile.
                let _ = sender.send(answer);
            }
        }
    }
}

impl<I, A> Drop for Turn<I, A> {
    /// A turn that was never run (its runtime shutting down) frees its place.
    fn drop(&mut self) {
        if !self.given_back {
            self.shared.lock().running -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::join_all;

    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    /// Work that records each batch and holds one with the held item.
    #[derive(Default)]
    struct Gate {
        held: Mutex<Option<u32>>,
        released: Condvar,
        batches: Mutex<Vec<Vec<u32>>>,
        inside: AtomicUsize,
    }

    impl Gate {
        fn work(self: &Arc<Self>) -> impl Fn(Vec<u32>) -> Vec<u32> + Send + Sync + 'static {
            let gate = self.clone();
            move |items: Vec<u32>| {
                gate.batches
                    .lock()
                    .expect("not poisoned")
                    .push(items.to_vec());
                gate.inside.fetch_add(1, Ordering::SeqCst);
                let mut held = gate.held.lock().expect("not poisoned");
                while held.is_some_and(|item| items.contains(&item)) {
                    held = gate.released.wait(held).expect("not poisoned");
                }
                drop(held);
                gate.inside.fetch_sub(1, Ordering::SeqCst);
                items.iter().map(|item| item * 10).collect()
            }
        }

        fn hold(&self, item: Option<u32>) {
            *self.held.lock().expect("not poisoned") = item;
            self.released.notify_all();
        }

        /// Until `inside` batches are running and `waiting` items queue
        /// behind them; yields to the runtime meanwhile.
        async fn until(&self, batches: &Batches<u32, u32>, inside: usize, waiting: usize) {
            let reached = async {
                while self.inside.load(Ordering::SeqCst) != inside || batches.waiting() != waiting {
                    tokio::task::yield_now().await;
                }
            };
            // A regression fails here rather than hanging the run.
            if actix_web::rt::time::timeout(LONG, reached).await.is_err() {
                panic!(
                    "never {inside} running and {waiting} waiting: {} and {}",
                    self.inside.load(Ordering::SeqCst),
                    batches.waiting()
                );
            }
        }
    }

    /// Asks for `item` from a task of its own.
    fn ask(
        batches: &Batches<u32, u32>,
        item: u32,
        deadline: Duration,
    ) -> actix_web::rt::task::JoinHandle<Result<u32, Missed>> {
        let batches = batches.clone();
        actix_web::rt::spawn(async move { batches.answer(item, deadline).await })
    }

    async fn answers(
        asked: Vec<actix_web::rt::task::JoinHandle<Result<u32, Missed>>>,
    ) -> Vec<Result<u32, Missed>> {
        join_all(asked)
            .await
            .into_iter()
            .map(|joined| joined.expect("the task ran"))
            .collect()
    }

    #[actix_web::test]
    async fn items_that_arrive_while_a_batch_runs_share_the_next_one() {
        let gate = Arc::new(Gate::default());
        let batches = Batches::new(4, 64, LONG, gate.work());
        gate.hold(Some(0));
        let mut asked = vec![ask(&batches, 0, LONG)];
        gate.until(&batches, 1, 0).await;
        // While the first runs, the others queue: no second turn.
        asked.extend((1..10).map(|item| ask(&batches, item, LONG)));
        gate.until(&batches, 1, 9).await;
        gate.hold(None);
        let answers = answers(asked).await;
        assert_eq!(
            answers,
            (0..10).map(|item| Ok(item * 10)).collect::<Vec<_>>()
        );
        let batches = gate.batches.lock().expect("not poisoned").clone();
        assert_eq!(batches, [vec![0], (1..10).collect::<Vec<_>>()]);
    }

    #[actix_web::test]
    async fn a_batch_takes_at_most_the_largest_number_of_items() {
        let gate = Arc::new(Gate::default());
        let batches = Batches::new(1, 3, LONG, gate.work());
        gate.hold(Some(0));
        let mut asked = vec![ask(&batches, 0, LONG)];
        gate.until(&batches, 1, 0).await;
        asked.extend((1..8).map(|item| ask(&batches, item, LONG)));
        gate.until(&batches, 1, 7).await;
        gate.hold(None);
        let answers = answers(asked).await;
        assert_eq!(
            answers,
            (0..8).map(|item| Ok(item * 10)).collect::<Vec<_>>()
        );
        let batches = gate.batches.lock().expect("not poisoned").clone();
        assert_eq!(batches, [vec![0], vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    }

    #[actix_web::test]
    async fn a_stalled_batch_times_its_waiter_out_and_a_new_turn_takes_the_next() {
        let gate = Arc::new(Gate::default());
        let batches = Batches::new(2, 64, Duration::from_millis(20), gate.work());
        gate.hold(Some(1));
        // Held: its waiter gives up at its deadline, the batch runs on.
        let stalled = batches.answer(1, Duration::from_millis(50)).await;
        assert_eq!(stalled, Err(Missed::TimedOut));
        gate.until(&batches, 1, 0).await;
        // Queued behind it until its patience runs out, then in a turn of
        // its own, answered while the first is still held.
        assert_eq!(batches.answer(2, LONG).await, Ok(20));
        assert_eq!(
            gate.inside.load(Ordering::SeqCst),
            1,
            "the first still held"
        );
        gate.hold(None);
        gate.until(&batches, 0, 0).await;
        assert_eq!(gate.batches.lock().expect("not poisoned").concat(), [1, 2]);
    }

    #[actix_web::test]
    async fn no_more_turns_than_most_however_long_the_wait() {
        let gate = Arc::new(Gate::default());
        let batches = Batches::new(1, 64, Duration::ZERO, gate.work());
        gate.hold(Some(1));
        let held = ask(&batches, 1, LONG);
        gate.until(&batches, 1, 0).await;
        // Out of patience at once, but the one turn is taken: it waits out
        // its deadline in the queue.
        let gave_up = batches.answer(2, Duration::from_millis(1)).await;
        assert_eq!(gave_up, Err(Missed::TimedOut));
        // Claimed (or not) before its last wait: no second turn was.
        assert_eq!(batches.running(), 1, "no second turn");
        assert_eq!(
            gate.batches.lock().expect("not poisoned").len(),
            1,
            "no second batch"
        );
        gate.hold(None);
        assert_eq!(answers(vec![held]).await, [Ok(10)]);
        assert_eq!(batches.answer(3, LONG).await, Ok(30));
        let seen = gate.batches.lock().expect("not poisoned").concat();
        assert_eq!(
            seen,
            [1, 3],
            "2 gave up before its batch ran: not looked up"
        );
    }

    #[actix_web::test]
    async fn a_panicking_batch_loses_its_waiters_and_the_turn_runs_on() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let batches = Batches::new(1, 64, LONG, move |items: Vec<u32>| {
            assert_ne!(
                counted.fetch_add(1, Ordering::SeqCst),
                0,
                "a defect in the first batch"
            );
            items
        });
        assert_eq!(batches.answer(1, LONG).await, Err(Missed::Lost));
        assert_eq!(batches.answer(2, LONG).await, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
