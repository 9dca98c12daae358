//! Webhook delivery: a background thread takes due deliveries from the
//! outbox (each held for a lease, so a crash mid-delivery leaves it to be
//! tried again, and another instance never takes it meanwhile), POSTs them
//! a few at a time with a deadline each, and settles each: delivered,
//! tried again later, or failed after a day.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tessera_domain::Clock;
use tessera_domain::webhooks::{
    DELIVERY_TIMEOUT, PendingDelivery, Receiver, RetryPolicy, WebhookOutbox, payload,
    signed_headers, webhook_id,
};

/// Deliveries tried at once per instance: a slow receiver holds at most
/// these, never a request of the service.
pub const CONCURRENCY: usize = 8;
/// How long a claimed delivery is held: every delivery of a round runs at
/// once and ends within [`DELIVERY_TIMEOUT`], so a round is over well
/// before; past it, only a crashed instance's deliveries are due again.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the outbox is looked at for due deliveries.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How often, with no receiver configured: only to settle what receivers
/// removed from the configuration left behind.
pub const IDLE_POLL_EVERY: Duration = Duration::from_secs(60);
/// Rounds of [`CONCURRENCY`] deliveries one look may run before yielding
/// (the thread's stop signal is checked between looks).
const ROUNDS_PER_LOOK: usize = 16;
/// Delivered and failed deliveries are kept this long for
/// `tessera webhooks status`, then forgotten.
pub const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);

const DELIVERIES: &str = "tessera_webhook_deliveries_total";
/// `tessera_webhook_deliveries_total`'s outcomes.
pub const OUTCOMES: [&str; 3] = ["delivered", "retried", "failed"];

/// Help text and zeroed series, with the other metrics.
pub fn describe_metrics() {
    metrics::describe_counter!(
        DELIVERIES,
        "Webhook delivery attempts by outcome: delivered (2xx), retried (to be tried again), \
         failed (given up after a day)"
    );
    for outcome in OUTCOMES {
        metrics::counter!(DELIVERIES, "outcome" => outcome).increment(0);
    }
}

/// How one try ended.
enum Outcome {
    Delivered,
    Refused(String),
    /// No receiver of that name is configured any more: nothing to try.
    Unconfigured,
}

pub struct Dispatcher {
    outbox: Arc<dyn WebhookOutbox>,
    receivers: HashMap<String, Receiver>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("receivers", &self.receivers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// How often to look: often with receivers, rarely without.
    pub fn poll_every(&self) -> Duration {
        if self.receivers.is_empty() {
            IDLE_POLL_EVERY
        } else {
            POLL_EVERY
        }
    }

    pub fn new(
        outbox: Arc<dyn WebhookOutbox>,
        receivers: Vec<Receiver>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        if receivers.is_empty() {
            tracing::debug!("no webhook receivers: deliveries left by removed ones are dropped");
        }
        let client = reqwest::Client::builder()
            // A redirect is an answer like any other non-2xx: tried again.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DELIVERY_TIMEOUT)
            .connect_timeout(DELIVERY_TIMEOUT)
            .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            outbox,
            receivers: receivers
                .into_iter()
                .map(|r| (r.subscription.receiver.clone(), r))
                .collect(),
            clock,
            policy: RetryPolicy::default(),
            client,
            runtime,
        })
    }

    /// Delivers what is due, a round of [`CONCURRENCY`] at a time, until
    /// nothing is (or [`ROUNDS_PER_LOOK`] rounds ran). Returns how many
    /// were tried.
    pub fn deliver_due(&self) -> anyhow::Result<usize> {
        let mut tried = 0;
        for _ in 0..ROUNDS_PER_LOOK {
            let now = self.clock.now();
            let due = self.outbox.claim(now, now + LEASE, CONCURRENCY)?;
            let count = due.len();
            let outcomes = self.runtime.block_on(
                futures_util::stream::iter(due)
                    .map(|delivery| async move {
                        let outcome = self.attempt(&delivery).await;
                        (delivery, outcome)
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect::<Vec<_>>(),
            );
            for (delivery, outcome) in outcomes {
                self.settle(&delivery, outcome)?;
            }
            tried += count;
            if count < CONCURRENCY {
                break;
            }
        }
        Ok(tried)
    }

    async fn attempt(&self, delivery: &PendingDelivery) -> Outcome {
        let Some(receiver) = self.receivers.get(&delivery.receiver) else {
            return Outcome::Unconfigured;
        };
        let body = payload(&delivery.event);
        let id = webhook_id(delivery.user, delivery.event.seq);
        let mut request = self
            .client
            .post(receiver.url.clone())
            .header("content-type", "application/json");
        for (name, value) in signed_headers(&receiver.secret, &id, self.clock.now(), &body) {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => Outcome::Delivered,
            Ok(response) => Outcome::Refused(format!("answered {}", response.status())),
            Err(error) if error.is_timeout() => {
                Outcome::Refused(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()))
            }
            // With its causes ("…: connection refused"), without the URL:
            // it may hold the receiver's secret.
            Err(error) => {
                Outcome::Refused(format!("{:#}", anyhow::Error::new(error.without_url())))
            }
        }
    }

    fn settle(&self, delivery: &PendingDelivery, outcome: Outcome) -> anyhow::Result<()> {
        let now = self.clock.now();
        let id = webhook_id(delivery.user, delivery.event.seq);
        let error = match outcome {
            Outcome::Delivered => {
                self.outbox.delivered(delivery.id, now)?;
                metrics::counter!(DELIVERIES, "outcome" => "delivered").increment(1);
                tracing::debug!(receiver = %delivery.receiver, webhook_id = %id, "webhook delivered");
                return Ok(());
            }
            Outcome::Refused(error) => error,
            Outcome::Unconfigured => {
                let error = "the receiver is no longer configured";
                self.outbox.failed(delivery.id, now, error)?;
                metrics::counter!(DELIVERIES, "outcome" => "failed").increment(1);
                tracing::warn!(receiver = %delivery.receiver, webhook_id = %id, error, "webhook dropped");
                return Ok(());
            }
        };
        match self
            .policy
            .next_try(delivery.tries, delivery.created_at, now)
        {
            Some(next) => {
                self.outbox.retry(delivery.id, next, &error)?;
                metrics::counter!(DELIVERIES, "outcome" => "retried").increment(1);
                tracing::info!(
                    receiver = %delivery.receiver,
                    webhook_id = %id,
                    tries = delivery.tries,
                    error,
                    retry_in_ms = next.since(now).as_millis() as u64,
                    "webhook not delivered: will try again"
                );
            }
            None => {
                self.outbox.failed(delivery.id, now, &error)?;
                metrics::counter!(DELIVERIES, "outcome" => "failed").increment(1);
                tracing::error!(
                    receiver = %delivery.receiver,
                    webhook_id = %id,
                    tries = delivery.tries,
                    error,
                    "webhook given up after a day of retries"
                );
            }
        }
        Ok(())
    }

    /// Forgets deliveries finished more than [`KEEP_FINISHED`] ago.
    pub fn purge(&self) -> anyhow::Result<usize> {
        self.outbox.purge(self.clock.now() - KEEP_FINISHED)
    }
}
