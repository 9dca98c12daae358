//! The audit trail: who changed a user's tokens, clients or suspension, and
//! when, as a hash chain per user, so that anyone holding an export can
//! check offline that no event was edited, removed or reordered.
//!
//! An event is hashed in its exported JSON form (without `hash`), written
//! by RFC 8785 (the JSON Canonicalization Scheme): the same bytes on every
//! platform, whatever order or spacing a reader's JSON library prefers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::crypto::TokenHash;
use crate::ids::{ClientId, TokenId, UserId};
use crate::time::Timestamp;

/// `prevHash` of a user's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// The user, by a session (`id`: the user's id).
    Session,
    /// A token speaking for itself (`id`: the token's id).
    Token,
    /// An OAuth2 client (`id`: its client id).
    Client,
    /// A `tessera` command run by an operator.
    Operator,
    /// The service on its own (sweeps, warnings).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

impl Actor {
    pub fn session(user: UserId) -> Self {
        Self::named(ActorKind::Session, user.to_string())
    }

    pub fn token(id: TokenId) -> Self {
        Self::named(ActorKind::Token, id.to_string())
    }

    pub fn client(id: &ClientId) -> Self {
        Self::named(ActorKind::Client, id.as_str().to_owned())
    }

    pub fn operator() -> Self {
        Self {
            kind: ActorKind::Operator,
            id: None,
        }
    }

    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }

    fn named(kind: ActorKind, id: String) -> Self {
        Self { kind, id: Some(id) }
    }
}

/// What happened; `type` in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    TokenCreated,
    TokenUpdated,
    TokenRotated,
    TokenDeleted,
    TokenRevoked,
    TokenExpiring,
    TokenCanaryUsed,
    ClientCreated,
    ClientUpdated,
    ClientSecretReset,
    ClientDeleted,
    UserSuspended,
    UserResumed,
}

impl EventType {
    pub const ALL: [Self; 13] = [
        Self::TokenCreated,
        Self::TokenUpdated,
        Self::TokenRotated,
        Self::TokenDeleted,
        Self::TokenRevoked,
        Self::TokenExpiring,
        Self::TokenCanaryUsed,
        Self::ClientCreated,
        Self::ClientUpdated,
        Self::ClientSecretReset,
        Self::ClientDeleted,
        Self::UserSuspended,
        Self::UserResumed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreated => "token.created",
            Self::TokenUpdated => "token.updated",
            Self::TokenRotated => "token.rotated",
            Self::TokenDeleted => "token.deleted",
            Self::TokenRevoked => "token.revoked",
            Self::TokenExpiring => "token.expiring",
            Self::TokenCanaryUsed => "token.canary_used",
            Self::ClientCreated => "client.created",
            Self::ClientUpdated => "client.updated",
            Self::ClientSecretReset => "client.secret_reset",
            Self::ClientDeleted => "client.deleted",
            Self::UserSuspended => "user.suspended",
            Self::UserResumed => "user.resumed",
        }
    }
}

/// Why a token was revoked rather than deleted by its owner
/// (`details.reason` of `token.revoked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Operator,
    ClientDeleted,
    OauthRevoke,
    GrantReplaced,
    Reuse,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::ClientDeleted => "client_deleted",
            Self::OauthRevoke => "oauth_revoke",
            Self::GrantReplaced => "grant_replaced",
            Self::Reuse => "reuse",
        }
    }
}

/// A change's event as the change describes it; the store numbers and
/// chains it inside the change's own transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub user: UserId,
    pub kind: EventType,
    pub actor: Actor,
    pub token_id: Option<TokenId>,
    pub client_id: Option<ClientId>,
    pub details: Map<String, Value>,
}

impl EventDraft {
    pub fn new(user: UserId, kind: EventType, actor: Actor) -> Self {
        Self {
            user,
            kind,
            actor,
            token_id: None,
            client_id: None,
            details: Map::new(),
        }
    }

    pub fn token(mut self, id: TokenId) -> Self {
        self.token_id = Some(id);
        self
    }

    pub fn client(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }

    /// `token.deleted` by its owner's session.
    pub fn deleted_by_owner(user: UserId, token: TokenId) -> Self {
        Self::new(user, EventType::TokenDeleted, Actor::session(user)).token(token)
    }

    /// An event of a client, in its author's trail, by the author's session.
    pub fn for_client(author: UserId, kind: EventType, client: &ClientId) -> Self {
        Self::new(author, kind, Actor::session(author)).client(client.clone())
    }

    /// `user.suspended` by an operator, with the reason given.
    pub fn suspended(user: UserId, reason: Option<&str>) -> Self {
        Self::new(user, EventType::UserSuspended, Actor::operator())
            .detail("reason", reason.map(str::to_owned))
    }

    /// `token.expiring`: the token expires at `expires_at`, soon.
    pub fn expiring(user: UserId, token: TokenId, expires_at: Timestamp) -> Self {
        Self::new(user, EventType::TokenExpiring, Actor::system())
            .token(token)
            .detail("expiresAt", expires_at.as_millis())
    }

    /// `user.resumed` by an operator.
    pub fn resumed(user: UserId) -> Self {
        Self::new(user, EventType::UserResumed, Actor::operator())
    }

    /// `token.revoked`: deleted by someone other than its owner, for
    /// `reason`.
    pub fn revoked(user: UserId, token: TokenId, actor: Actor, reason: RevokeReason) -> Self {
        Self::new(user, EventType::TokenRevoked, actor)
            .token(token)
            .detail("reason", reason.as_str())
    }

    /// One member of `details`. Never a token or a secret: events are
    /// exported to their user and sent to webhooks.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// An event as stored and exported: the draft numbered and chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// 1, 2, 3… per user, without gaps.
    pub seq: u64,
    /// Unix milliseconds.
    pub at: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: Actor,
    #[serde(rename = "tokenID")]
    pub token_id: Option<String>,
    #[serde(rename = "clientID")]
    pub client_id: Option<String>,
    pub details: Map<String, Value>,
    #[serde(rename = "prevHash")]
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// `draft` as its user's event `seq`, made `at`, after the event whose
    /// hash is `prev_hash`.
    pub fn chain(draft: &EventDraft, seq: u64, at: Timestamp, prev_hash: &str) -> Self {
        let mut event = Self {
            seq,
            at: at.as_millis(),
            kind: draft.kind.as_str().to_owned(),
            actor: draft.actor.clone(),
            token_id: draft.token_id.map(|id| id.to_string()),
            client_id: draft.client_id.as_ref().map(|id| id.as_str().to_owned()),
            details: draft.details.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        event.hash = event.computed_hash();
        event
    }

    /// Lowercase hex SHA-256 of the event without its `hash` member, in
    /// its RFC 8785 form.
    pub fn computed_hash(&self) -> String {
        // Strings, integers and maps of them: serialising cannot fail.
        let mut exported = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(members) = &mut exported {
            members.remove("hash");
        }
        sha256_hex(&canonical_json(&exported))
    }
}

fn sha256_hex(text: &str) -> String {
    TokenHash(Sha256::digest(text.as_bytes()).into()).to_hex()
}

/// `value` in RFC 8785 form. A `Value` holds only what JSON can say (string
/// keys, finite numbers), so the canonicalizer has nothing to refuse.
pub fn canonical_json(value: &Value) -> String {
    serde_json_canonicalizer::to_string(value).unwrap_or_default()
}

/// A stored event that does not read as an event (an adapter's error, so
/// that verification can name the event instead of stopping).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit event {seq} cannot be read: {reason}")]
pub struct UnreadableEvent {
    pub seq: u64,
    pub reason: String,
}

/// Where a user's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {expected} is missing or out of order: event {found} stands in its place")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("event {seq} was edited: its hash does not match its content")]
    Edited { seq: u64 },
    #[error(
        "event {seq} does not follow event {previous}: its prevHash is not that event's hash \
         (event {previous} was edited and rehashed, or events were removed)"
    )]
    Unlinked { seq: u64, previous: u64 },
    #[error("the chain stops at event {last}, but event {head} was recorded: events were removed")]
    Truncated { last: u64, head: u64 },
    #[error("the last event's hash is not the one recorded: event {seq} was edited and rehashed")]
    HeadMismatch { seq: u64 },
    #[error("events are recorded but the chain's head was removed")]
    HeadMissing,
}

/// Checks one user's chain event by event, oldest first (so a chain of
/// any length is checked in pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    last: u64,
    hash: String,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            last: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainCheck {
    /// The next event of the chain.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.last + 1;
        if event.seq != expected {
            return Err(ChainBreak::OutOfSequence {
                expected,
                found: event.seq,
            });
        }
        if event.computed_hash() != event.hash {
            return Err(ChainBreak::Edited { seq: event.seq });
        }
        if event.prev_hash != self.hash {
            return Err(ChainBreak::Unlinked {
                seq: event.seq,
                previous: self.last,
            });
        }
        self.last = event.seq;
        self.hash.clone_from(&event.hash);
        Ok(())
    }

    /// After the last event: whether the chain ends where the store's
    /// record of its head (`seq`, `hash`) says it does.
    pub fn finish(&self, head_seq: u64, head_hash: &str) -> Result<(), ChainBreak> {
        if self.last != head_seq {
            return Err(ChainBreak::Truncated {
                last: self.last,
                head: head_seq,
            });
        }
        if self.hash != head_hash {
            return Err(ChainBreak::HeadMismatch { seq: self.last });
        }
        Ok(())
    }
}

/// Checks a whole export of one user's events, oldest first.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<(), ChainBreak> {
    let mut check = ChainCheck::default();
    events.into_iter().try_for_each(|event| check.push(event))
}

/// Reads the audit trail; appending happens inside each change's
/// transaction, in the adapters.
pub trait AuditLog: Send + Sync + 'static {
    /// `user`'s events with `seq` above `after`, oldest first, at most
    /// `limit`.
    fn events(&self, user: UserId, after: u64, limit: usize) -> anyhow::Result<Vec<AuditEvent>>;

    /// Every user with events, with the `seq` and `hash` of their latest.
    fn heads(&self) -> anyhow::Result<Vec<(UserId, u64, String)>>;

    /// Users with events but no head: the head was removed, which only an
    /// edit of the database does.
    fn headless(&self) -> anyhow::Result<Vec<UserId>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn canonical_form_matches_rfc_8785_section_3_2_2() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        assert_eq!(
            canonical_json(&parsed(input)),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn members_sort_by_utf16_code_units_as_rfc_8785_section_3_2_3() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        assert_eq!(
            canonical_json(&parsed(input)),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\
             \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    fn user() -> UserId {
        UserId::new(7).expect("positive")
    }

    fn chain_of(n: u64) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for seq in 1..=n {
            let prev = events.last().map_or(GENESIS_HASH, |e| e.hash.as_str());
            let draft = EventDraft::new(user(), EventType::TokenCreated, Actor::session(user()))
                .token(TokenId::generate(Timestamp::from_millis(1_764_337_200_000)))
                .detail("n", seq);
            let event =
                AuditEvent::chain(&draft, seq, Timestamp::from_millis(1_764_337_200_000), prev);
            events.push(event);
        }
        events
    }

    #[test]
    fn an_event_hashes_its_exported_form_without_hash() {
        let event = chain_of(1).remove(0);
        let mut exported = serde_json::to_value(&event).expect("serialises");
        exported.as_object_mut().expect("object").remove("hash");
        let expected = sha256_hex(&canonical_json(&exported));
        assert_eq!(event.hash, expected);
        assert_eq!(event.prev_hash, GENESIS_HASH);
        assert_eq!(
            exported["actor"],
            serde_json::json!({"kind": "session", "id": "7"})
        );
        assert_eq!(exported["type"], "token.created");
        assert_eq!(event.hash.len(), 64);
    }

    #[test]
    fn an_intact_chain_verifies_and_its_head_matches() {
        let events = chain_of(4);
        assert_eq!(verify_chain(&events), Ok(()));
        let mut check = ChainCheck::default();
        events.iter().for_each(|e| check.push(e).expect("intact"));
        assert_eq!(check.finish(4, &events[3].hash), Ok(()));
        assert_eq!(
            check.finish(5, "x"),
            Err(ChainBreak::Truncated { last: 4, head: 5 })
        );
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chain_of(4);
        events[2].details.insert("n".into(), 99.into());
        assert_eq!(verify_chain(&events), Err(ChainBreak::Edited { seq: 3 }));
        // Rehashed after the edit: the next event no longer follows it.
        events[2].hash = events[2].computed_hash();
        assert_eq!(
            verify_chain(&events),
            Err(ChainBreak::Unlinked {
                seq: 4,
                previous: 3
            })
        );
    }

    #[test]
    fn a_removed_or_reordered_event_is_named() {
        let mut removed = chain_of(4);
        removed.remove(1);
        assert_eq!(
            verify_chain(&removed),
            Err(ChainBreak::OutOfSequence {
                expected: 2,
                found: 3
            })
        );
        let mut reordered = chain_of(4);
        reordered.swap(1, 2);
        assert_eq!(
            verify_chain(&reordered),
            Err(ChainBreak::OutOfSequence {
                expected: 2,
                found: 3
            })
        );
        // The last event removed: only the recorded head can tell.
        let mut truncated = chain_of(4);
        let last = truncated.pop().expect("four");
        let mut check = ChainCheck::default();
        truncated
            .iter()
            .for_each(|e| check.push(e).expect("intact"));
        assert_eq!(
            check.finish(4, &last.hash),
            Err(ChainBreak::Truncated { last: 3, head: 4 })
        );
    }

    #[test]
    fn every_type_has_its_contract_name() {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), 13);
        assert!(names.contains(&"token.canary_used"));
        assert!(names.contains(&"client.secret_reset"));
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
    }
}
