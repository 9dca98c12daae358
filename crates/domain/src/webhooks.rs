//! Webhooks: audit events POSTed to the receivers configured for them, as
//! Standard Webhooks (<https://www.standardwebhooks.com/>) messages, so a
//! receiver's existing library verifies them. What is sent, how it is
//! signed, which events go where and when a failed delivery is tried again
//! are decided here; the outbox (a port) and the HTTP sending are adapters'.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, EventType};
use crate::ids::UserId;
use crate::time::Timestamp;

/// The prefix of a signing secret, as Standard Webhooks libraries expect.
pub const SECRET_PREFIX: &str = "whsec_";
/// The fewest bytes a decoded signing secret may have.
pub const MIN_SECRET_BYTES: usize = 24;
/// Longest wait for a receiver's answer (connection included).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A receiver's signing key: the decoded bytes of `whsec_<base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("a webhook secret must start with {SECRET_PREFIX}")]
    SecretPrefix,
    #[error(
        "a webhook secret must be {SECRET_PREFIX} and base64 of at least {MIN_SECRET_BYTES} bytes"
    )]
    SecretEncoding,
    #[error("a webhook needs at least one event pattern")]
    NoEvents,
    #[error("event pattern {0:?} matches no event type")]
    UnknownEvents(String),
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, WebhookConfigError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookConfigError::SecretPrefix)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookConfigError::SecretEncoding)?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(WebhookConfigError::SecretEncoding);
        }
        Ok(Self(bytes))
    }

    /// `webhook-signature`: `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // Any key length is valid for HMAC.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// A glob over event types: `*` stands for any run of characters, dots
/// included (`token.*`, `*.deleted`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPattern(String);

impl EventPattern {
    /// Refuses a pattern that matches no event type: a typo must not
    /// silently subscribe to nothing.
    pub fn parse(text: &str) -> Result<Self, WebhookConfigError> {
        let pattern = Self(text.to_owned());
        if EventType::ALL
            .iter()
            .any(|kind| pattern.matches(kind.as_str()))
        {
            Ok(pattern)
        } else {
            Err(WebhookConfigError::UnknownEvents(text.to_owned()))
        }
    }

    pub fn matches(&self, kind: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = kind.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            // No `*`: the whole type.
            return rest.is_empty();
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }
}

/// Which events a receiver asked for; what the outbox needs to know when an
/// event is appended (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The receiver's name ([`receiver_name`]): in the outbox, the logs and
    /// `tessera webhooks status`.
    pub receiver: String,
    pub events: Vec<EventPattern>,
}

/// How a receiver is named wherever it is shown or stored: its scheme,
/// host and port, and a fingerprint of the whole URL to tell apart two on
/// one host. Never the path or query, which often hold the receiver's own
/// secret (`/services/T000/B000/XXXX`).
pub fn receiver_name(url: &url::Url) -> String {
    let digest = Sha256::digest(url.as_str().as_bytes());
    let fingerprint: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port} ({fingerprint})",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

impl Subscription {
    pub fn new(receiver: &str, events: &[String]) -> Result<Self, WebhookConfigError> {
        if events.is_empty() {
            return Err(WebhookConfigError::NoEvents);
        }
        Ok(Self {
            receiver: receiver.to_owned(),
            events: events
                .iter()
                .map(|e| EventPattern::parse(e))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|pattern| pattern.matches(kind))
    }
}

/// A configured receiver: where, which events, and its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Receiver {
    pub subscription: Subscription,
    /// Where deliveries go: shown nowhere (see [`receiver_name`]).
    pub url: url::Url,
    pub secret: WebhookSecret,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.subscription.receiver)
            .field("events", &self.subscription.events)
            .finish_non_exhaustive()
    }
}

/// `webhook-id`: unique per event, the same on every retry.
pub fn webhook_id(user: UserId, seq: u64) -> String {
    format!("{user}.{seq}")
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: &'a AuditEvent,
}

/// The body POSTed for `event`: `{"type", "timestamp" (RFC 3339, the
/// event's time), "data": <the event>}`.
pub fn payload(event: &AuditEvent) -> String {
    let envelope = Envelope {
        kind: &event.kind,
        timestamp: rfc3339(Timestamp::from_millis(event.at)),
        data: event,
    };
    // Strings, integers and maps of them: serialising cannot fail.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// `at` in RFC 3339, UTC, to the millisecond.
pub fn rfc3339(at: Timestamp) -> String {
    let nanos = i128::from(at.as_millis()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The three Standard Webhooks headers of one attempt, signed `now`.
pub fn signed_headers(
    secret: &WebhookSecret,
    id: &str,
    now: Timestamp,
    body: &str,
) -> [(&'static str, String); 3] {
    let timestamp = now.whole_secs();
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            secret.sign(id, timestamp, body.as_bytes()),
        ),
    ]
}

/// When failed deliveries are tried again: 1 s after the first try, then
/// twice as long each time up to an hour, for a day after the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub longest: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            longest: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `tries`-th failed try (1-based).
    pub fn backoff(&self, tries: u32) -> Duration {
        let doublings = tries.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.longest)
    }

    /// When to try again after `tries` failures of a delivery created at
    /// `created`, or `None`: give up (the next try would be past the day).
    pub fn next_try(&self, tries: u32, created: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let next = now + self.backoff(tries);
        (next <= created + self.give_up_after).then_some(next)
    }
}

/// A delivery taken from the outbox to be tried now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    pub id: i64,
    pub receiver: String,
    /// The event, as recorded.
    pub event: AuditEvent,
    pub user: UserId,
    /// Tries so far, this one included.
    pub tries: u32,
    pub created_at: Timestamp,
}

/// Deliveries of one receiver, by state (`tessera webhooks status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverStatus {
    pub receiver: String,
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// The outbox: one row per event and receiver, written in the event's
/// transaction by the store that appends events.
pub trait WebhookOutbox: Send + Sync {
    /// Takes up to `limit` deliveries due by `now`, none of them taken by
    /// another instance, and holds them until `lease_until` (a crash
    /// mid-delivery makes them due again then). Counts the try.
    fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> anyhow::Result<Vec<PendingDelivery>>;

    fn delivered(&self, id: i64, at: Timestamp) -> anyhow::Result<()>;

    /// Tries again at `at`, remembering why this try failed.
    fn retry(&self, id: i64, at: Timestamp, error: &str) -> anyhow::Result<()>;

    /// Gives up on it.
    fn failed(&self, id: i64, at: Timestamp, error: &str) -> anyhow::Result<()>;

    /// Counts per receiver that has any delivery.
    fn status(&self) -> anyhow::Result<Vec<ReceiverStatus>>;

    /// Forgets delivered and failed deliveries finished before `before`.
    fn purge(&self, before: Timestamp) -> anyhow::Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_reproduce_the_standard_webhooks_test_vector() {
        // The specification's published example: a receiver's library
        // accepts what reproduces it, whatever our own verifier thinks.
        let secret =
            WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_needs_its_prefix_base64_and_24_bytes() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(WebhookConfigError::SecretPrefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(WebhookConfigError::SecretEncoding)
        );
        // 18 bytes.
        assert_eq!(
            WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZI"),
            Err(WebhookConfigError::SecretEncoding)
        );
        assert!(
            format!(
                "{:?}",
                WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            )
            .contains('…')
        );
    }

    #[test]
    fn patterns_are_globs_over_event_types_and_a_typo_is_refused() {
        let token = EventPattern::parse("token.*").expect("pattern");
        assert!(token.matches("token.created") && token.matches("token.canary_used"));
        assert!(!token.matches("client.deleted"));
        let deleted = EventPattern::parse("*.deleted").expect("pattern");
        assert!(deleted.matches("token.deleted") && deleted.matches("client.deleted"));
        assert!(!deleted.matches("token.deleted_soon"));
        let exact = EventPattern::parse("client.deleted").expect("pattern");
        assert!(exact.matches("client.deleted") && !exact.matches("client.deleted.x"));
        let every = EventPattern::parse("*").expect("pattern");
        assert!(EventType::ALL.iter().all(|k| every.matches(k.as_str())));
        let middle = EventPattern::parse("t*.*ed").expect("pattern");
        assert!(middle.matches("token.created") && !middle.matches("token.expiring"));
        for typo in ["tokens.*", "token.create", "", "client"] {
            assert_eq!(
                EventPattern::parse(typo),
                Err(WebhookConfigError::UnknownEvents(typo.to_owned())),
                "{typo}"
            );
        }
        assert_eq!(
            Subscription::new("http://x", &[]),
            Err(WebhookConfigError::NoEvents)
        );
    }

    #[test]
    fn the_payload_wraps_the_event_with_its_type_and_time() {
        let draft = crate::audit::EventDraft::deleted_by_owner(
            UserId::new(7).expect("user"),
            crate::ids::TokenId::generate(Timestamp::from_millis(0)),
        );
        let event = AuditEvent::chain(
            &draft,
            3,
            Timestamp::from_millis(1_764_337_200_123),
            crate::audit::GENESIS_HASH,
        );
        let body: serde_json::Value = serde_json::from_str(&payload(&event)).expect("json");
        assert_eq!(body["type"], "token.deleted");
        assert_eq!(body["timestamp"], "2025-11-28T13:40:00.123Z");
        assert_eq!(body["data"]["seq"], 3);
        assert_eq!(body["data"]["hash"], event.hash.as_str());
        assert_eq!(webhook_id(UserId::new(7).expect("user"), 3), "7.3");
    }

    #[test]
    fn a_receiver_is_named_without_its_path_or_query() {
        let url =
            url::Url::parse("https://hooks.example:8443/services/T0/B0/secret?key=x").expect("url");
        let name = receiver_name(&url);
        assert!(name.starts_with("https://hooks.example:8443 ("), "{name}");
        assert!(!name.contains("secret") && !name.contains("key"), "{name}");
        let other = url::Url::parse("https://hooks.example:8443/services/other").expect("url");
        assert_ne!(receiver_name(&other), name, "two on one host differ");
        assert_eq!(receiver_name(&url), name, "stable");
    }

    #[test]
    fn retries_back_off_from_a_second_to_an_hour_and_stop_after_a_day() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=14).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(
            waits,
            [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600
            ]
        );
        assert_eq!(policy.backoff(u32::MAX).as_secs(), 3600);
        let created = Timestamp::from_millis(1_000_000);
        assert_eq!(
            policy.next_try(1, created, created),
            Some(created + Duration::from_secs(1))
        );
        let late = created + Duration::from_secs(23 * 3600 + 1800);
        assert_eq!(policy.next_try(20, created, late), None, "past the day");
    }
}
