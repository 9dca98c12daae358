//! Canary tokens: planted where a leak would show (config files, CI logs),
//! they authenticate nothing and raise an alarm on every use. A use is
//! answered exactly like an unknown token's, so the alarm is written off the
//! request path: queued here, then appended to the owner's audit trail by a
//! background flush — a canary costs the caller no round trip an unknown
//! token does not.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::audit::{Actor, EventDraft, EventType};
use crate::ids::{TokenId, UserId};
use crate::time::Timestamp;

/// A canary token as the store found it: whose it is, which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canary {
    pub user: UserId,
    pub id: TokenId,
}

/// One use of a canary: what `token.canary_used` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryUse {
    pub canary: Canary,
    pub at: Timestamp,
    /// The address of whoever presented it (for introspection, the
    /// `client_ip` the resource server reported), when known.
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// `"<METHOD> <route pattern>"`, e.g. `"GET /api/v1/status"`.
    pub route: String,
    /// The resource server that introspected it.
    pub resource_server: Option<String>,
    /// Uses alike in everything but their time, waiting together: one
    /// event says how many (`details.uses`), so hammering a canary cannot
    /// turn into as many writes and webhook deliveries.
    pub uses: u32,
}

impl CanaryUse {
    /// Its event, in the owner's trail. The actor is the token: whoever
    /// presented it acted as it.
    pub fn event(&self) -> EventDraft {
        EventDraft::new(
            self.canary.user,
            EventType::TokenCanaryUsed,
            Actor::token(self.canary.id),
        )
        .token(self.canary.id)
        .detail("ip", self.ip.map(|ip| ip.to_canonical().to_string()))
        .detail("userAgent", self.user_agent.clone())
        .detail("route", self.route.clone())
        .detail("resourceServer", self.resource_server.clone())
        .detail("uses", self.uses)
    }

    /// The same canary from the same place: merged while waiting.
    fn alike(&self, other: &Self) -> bool {
        self.canary == other.canary
            && self.ip == other.ip
            && self.route == other.route
            && self.user_agent == other.user_agent
            && self.resource_server == other.resource_server
    }
}

/// Uses not yet recorded beyond which new ones are dropped (and counted):
/// someone hammering a canary must not grow memory without bound, and a
/// thousand alarms waiting say enough.
pub const MAX_PENDING_CANARY_USES: usize = 1_000;

/// Canary uses waiting for the background flush.
#[derive(Debug, Default)]
pub struct CanaryAlarms {
    pending: Mutex<Vec<CanaryUse>>,
    dropped: AtomicU64,
}

impl CanaryAlarms {
    /// Queues `used` (counted into a waiting use alike, if any); `false`
    /// when the queue is full and it was dropped.
    pub fn note(&self, used: CanaryUse) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waiting) = pending.iter_mut().find(|w| w.alike(&used)) {
            waiting.uses = waiting.uses.saturating_add(used.uses);
            return true;
        }
        if pending.len() >= MAX_PENDING_CANARY_USES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        pending.push(used);
        true
    }

    /// Everything waiting, to be recorded.
    pub fn take(&self) -> Vec<CanaryUse> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Uses dropped since start because too many were waiting.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Back in front of whatever was queued meanwhile, up to the bound.
    pub fn put_back(&self, mut batch: Vec<CanaryUse>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        batch.append(&mut pending);
        let over = batch.len().saturating_sub(MAX_PENDING_CANARY_USES);
        batch.truncate(MAX_PENDING_CANARY_USES);
        self.dropped.fetch_add(over as u64, Ordering::Relaxed);
        *pending = batch;
    }
}
