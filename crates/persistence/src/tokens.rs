//! The token storage port on Diesel. Invariants live in the schema (unique
//! fingerprint, one token per user and client); this code only translates
//! their violations into the port's errors.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use tessera_domain::{
    Actor, Canary, ClaimLost, ClientId, ClientRevocation, EventDraft, IdempotencyClaim,
    InsertTokenError, NewTokenRecord, RevokeReason, RotateError, Rotated, Rotation, Timestamp,
    TokenChange, TokenHash, TokenId, TokenRecord, TokenRepository, TokenUse, UpdateTokenError,
    UserId, copy_error,
};

use crate::audit::{Trail, append, append_revoked};
use crate::connection::AnyConnection;
use crate::schema::api_tokens;
use crate::store::{Store, StoreContext as _, store_error};
use crate::suspensions::{is_suspended, may_issue_to};
use crate::token_rows::{
    DELETED_TOKEN, DeletedToken, TokenChangeRow, TokenRow, USAGE_CHUNK, allowed_ips_column,
    insert_token_row, insert_token_rows, is_duplicate_token_hash, parsed_token_id, user_of,
};

#[derive(Clone)]
pub struct DieselTokenRepository {
    store: Store,
}

impl std::fmt::Debug for DieselTokenRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselTokenRepository")
            .finish_non_exhaustive()
    }
}

impl DieselTokenRepository {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Stores many tokens at once, a thousand per transaction: for seeding
    /// benchmarks, not for the service (which goes through the port). No
    /// audit events: a seeded token was made by no one.
    pub fn seed(&self, tokens: &[NewTokenRecord]) -> anyhow::Result<()> {
        self.store.write("seeding tokens", |conn| {
            for chunk in tokens.chunks(1000) {
                conn.transaction::<(), DieselError, _>(|conn| {
                    for token in chunk {
                        insert_token_row(conn, token)?;
                    }
                    Ok(())
                })
                .store_context("seeding tokens")?;
            }
            Ok(())
        })
    }
}

/// Which constraint a unique violation broke. PostgreSQL names it; SQLite
/// only lists the columns in its message, so both are looked at.
fn classify_insert_error(error: DieselError) -> InsertTokenError {
    if is_duplicate_token_hash(&error) {
        return InsertTokenError::DuplicateHash;
    }
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &error {
        let constraint = info.constraint_name().unwrap_or_default();
        let message = info.message();
        if constraint == "api_tokens_user_client_uidx"
            || message.contains("api_tokens.from_api_client")
        {
            return InsertTokenError::DuplicateClientToken;
        }
    }
    InsertTokenError::Unexpected(store_error(error, "inserting a token"))
}

/// Why an insert's transaction rolled back.
enum InsertFailure {
    Db(DieselError),
    /// The `Idempotency-Key` claim was taken over.
    ClaimLost,
    Suspended,
}

impl From<DieselError> for InsertFailure {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

impl DieselTokenRepository {
    /// Inserts a token (replacing the user's expired one from the same
    /// client) and completes `claim` with its id, in one transaction.
    fn insert_with(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<TokenRecord, InsertTokenError> {
        let trail = self.store.trail();
        let backend = trail.backend();
        let inserted = self.store.write("inserting a token", |conn| {
            conn.transaction::<TokenRow, InsertFailure, _>(|conn| {
                if !may_issue_to(conn, backend, token.user_id.get())? {
                    return Err(InsertFailure::Suspended);
                }
                if let Some(client) = &token.from_api_client {
                    // An expired token from the same client is replaced, not
                    // a conflict; an unexpired one makes the insert fail on
                    // api_tokens_user_client_uidx.
                    let expired: Vec<DeletedToken> = diesel::delete(
                        api_tokens::table
                            .filter(api_tokens::user_id.eq(token.user_id.get()))
                            .filter(api_tokens::from_api_client.eq(client.as_str()))
                            .filter(api_tokens::expires_at.le(now.as_millis())),
                    )
                    .returning(DELETED_TOKEN)
                    .get_results(conn)?;
                    let reason = RevokeReason::GrantReplaced;
                    append_revoked(conn, &trail, expired, &token.created_by, reason, now)?;
                }
                let row = insert_token_row(conn, &token)?;
                crate::audit::append(conn, &trail, &token.created_event(), token.created_at)?;
                if let Some(claim) = claim
                    && !crate::idempotency::complete(conn, claim, &row.id.to_string())?
                {
                    return Err(InsertFailure::ClaimLost);
                }
                Ok(row)
            })
            .map_err(|failure| match failure {
                InsertFailure::Db(error) => classify_insert_error(error),
                InsertFailure::ClaimLost => InsertTokenError::Unexpected(ClaimLost.into()),
                InsertFailure::Suspended => InsertTokenError::Suspended,
            })
        })?;
        Ok(TokenRecord::try_from(inserted)?)
    }
}

/// One creation batch inside its transaction: the users' locks and
/// suspensions, the rows of those who may be issued to, and their events;
/// each token's stored row or why it was left out (`Suspended`, or `Busy`:
/// its owner's lock was held, so the caller stores it alone, waiting without
/// holding the batch's answers up), in their order.
fn insert_batch(
    conn: &mut AnyConnection,
    trail: &Trail,
    tokens: &[NewTokenRecord],
) -> Result<Vec<Result<Box<TokenRow>, InsertTokenError>>, DieselError> {
    let mut users: Vec<i64> = tokens.iter().map(|token| token.user_id.get()).collect();
    users.sort_unstable();
    users.dedup();
    let issuable = crate::suspensions::users_to_issue_to(conn, &users)?;
    let left_out = |token: &NewTokenRecord| {
        let user = token.user_id.get();
        if issuable.busy.contains(&user) {
            Some(InsertTokenError::Busy)
        } else if issuable.suspended.contains(&user) {
            Some(InsertTokenError::Suspended)
        } else {
            None
        }
    };
    let issued: Vec<&NewTokenRecord> = tokens
        .iter()
        .filter(|token| left_out(token).is_none())
        .collect();
    let mut rows = insert_token_rows(conn, &issued)?.into_iter();
    let events: Vec<(EventDraft, Timestamp)> = issued
        .iter()
        .map(|token| (token.created_event(), token.created_at))
        .collect();
    crate::audit::append_many(conn, trail, &events)?;
    tokens
        .iter()
        .map(|token| match left_out(token) {
            Some(refusal) => Ok(Err(refusal)),
            None => rows
                .next()
                .map(|row| Ok(Box::new(row)))
                .ok_or_else(|| DieselError::DeserializationError("fewer rows than tokens".into())),
        })
        .collect()
}

impl DieselTokenRepository {
    /// The token one lookup finds, if any.
    fn one(
        &self,
        find: impl FnOnce(&mut AnyConnection) -> Result<Option<TokenRow>, DieselError>,
    ) -> anyhow::Result<Option<TokenRecord>> {
        self.store
            .read_query("looking a token up", find)?
            .map(TokenRecord::try_from)
            .transpose()
    }
}

impl TokenRepository for DieselTokenRepository {
    fn insert(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<TokenRecord, InsertTokenError> {
        self.insert_with(token, now, None)
    }

    fn insert_claimed(
        &self,
        token: NewTokenRecord,
        now: Timestamp,
        claim: &IdempotencyClaim,
    ) -> Result<TokenRecord, InsertTokenError> {
        self.insert_with(token, now, Some(claim))
    }

    fn insert_many(
        &self,
        tokens: Vec<NewTokenRecord>,
        now: Timestamp,
    ) -> Vec<Result<TokenRecord, InsertTokenError>> {
        if tokens.is_empty() {
            return Vec::new();
        }
        // A client's token may replace an expired one: on its own, as ever.
        if tokens.iter().any(|token| token.from_api_client.is_some()) {
            return self.insert_each(tokens, now);
        }
        let trail = self.store.trail();
        let stored = self.store.write("inserting tokens", |conn| {
            conn.transaction(|conn| insert_batch(conn, &trail, &tokens))
                .map_err(classify_insert_error)
        });
        let batched = match stored {
            Ok(batched) => batched,
            // A fingerprint taken (practically never) rolled the whole batch
            // back: each alone then, answered on its own.
            Err(InsertTokenError::DuplicateHash) => return self.insert_each(tokens, now),
            Err(error) => {
                let error = match error {
                    InsertTokenError::Unexpected(error) => error,
                    other => anyhow::anyhow!("inserting tokens: {other}"),
                };
                return tokens
                    .iter()
                    .map(|_| Err(InsertTokenError::Unexpected(copy_error(&error))))
                    .collect();
            }
        };
        batched
            .into_iter()
            .map(|outcome| outcome.and_then(|row| Ok(TokenRecord::try_from(*row)?)))
            .collect()
    }

    fn find_by_id(&self, user: UserId, id: i64) -> anyhow::Result<Option<TokenRecord>> {
        self.one(|conn| {
            api_tokens::table
                .filter(api_tokens::id.eq(id))
                .filter(api_tokens::user_id.eq(user.get()))
                .select(TokenRow::as_select())
                .get_result::<TokenRow>(conn)
                .optional()
        })
    }

    fn find_by_public_id(&self, user: UserId, id: TokenId) -> anyhow::Result<Option<TokenRecord>> {
        self.one(|conn| {
            api_tokens::table
                .filter(api_tokens::public_id.eq(id.to_string()))
                .filter(api_tokens::user_id.eq(user.get()))
                .select(TokenRow::as_select())
                .get_result::<TokenRow>(conn)
                .optional()
        })
    }

    fn update(
        &self,
        user: UserId,
        id: TokenId,
        change: &TokenChange,
        at: Timestamp,
    ) -> Result<TokenRecord, UpdateTokenError> {
        let trail = self.store.trail();
        const WHAT: &str = "changing a token";
        let row = TokenChangeRow {
            identifier: change.identifier.as_deref(),
            disabled: change.disabled,
            expires_at: change.expires_at.map(Timestamp::as_millis),
            allowed_ips: match &change.allowed_ips {
                None => None,
                Some(allowed) => Some(allowed_ips_column(allowed.as_ref()).store_context(WHAT)?),
            },
        };
        // Without an expiry in the change the bound holds for every row.
        let bound = change.expires_at.unwrap_or(Timestamp::NEVER).as_millis();
        let public_id = id.to_string();
        let updated = self.store.write_query(WHAT, |conn| {
            conn.transaction(|conn| {
                let updated = diesel::update(
                    api_tokens::table
                        .filter(api_tokens::public_id.eq(&public_id))
                        .filter(api_tokens::user_id.eq(user.get()))
                        .filter(
                            api_tokens::expires_at
                                .is_null()
                                .or(api_tokens::expires_at.ge(bound)),
                        ),
                )
                .set(&row)
                .returning(api_tokens::all_columns)
                .get_result::<TokenRow>(conn)
                .optional()?;
                if updated.is_some() {
                    append(conn, &trail, &change.updated_event(user, id), at)?;
                    return Ok(Ok(updated));
                }
                // Nothing matched: an unknown id, or an expiry already earlier.
                let exists = api_tokens::table
                    .filter(api_tokens::public_id.eq(&public_id))
                    .filter(api_tokens::user_id.eq(user.get()))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
                Ok(Err(exists))
            })
        })?;
        match updated {
            Ok(Some(row)) => Ok(TokenRecord::try_from(row)?),
            Ok(None) => Err(UpdateTokenError::NotFound),
            Err(true) => Err(UpdateTokenError::ExpiryNotEarlier),
            Err(false) => Err(UpdateTokenError::NotFound),
        }
    }

    fn rotate(&self, rotation: &Rotation) -> Result<Rotated, RotateError> {
        crate::rotation::rotate(&self.store, rotation)
    }

    fn suspend(
        &self,
        user: UserId,
        reason: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<Vec<TokenHash>> {
        crate::suspensions::suspend(&self.store, user, reason, now)
    }

    fn is_suspended(&self, user: UserId) -> anyhow::Result<bool> {
        self.store.read_query("looking a suspension up", |conn| {
            is_suspended(conn, user.get())
        })
    }

    fn resume(&self, user: UserId, at: Timestamp) -> anyhow::Result<Option<Vec<TokenHash>>> {
        crate::suspensions::resume(&self.store, user, at)
    }

    fn revoke_lineage(&self, hash: &TokenHash, at: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        crate::rotation::revoke_lineage(&self.store, hash, at)
    }

    fn purge_superseded(&self, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        crate::rotation::purge_superseded(&self.store, now)
    }

    fn delete_by_public_id(
        &self,
        user: UserId,
        id: TokenId,
        at: Timestamp,
    ) -> anyhow::Result<Option<TokenHash>> {
        let trail = self.store.trail();
        self.store
            .write_query("deleting a token", |conn| {
                conn.transaction(|conn| {
                    let deleted = diesel::delete(
                        api_tokens::table
                            .filter(api_tokens::user_id.eq(user.get()))
                            .filter(api_tokens::public_id.eq(id.to_string())),
                    )
                    .returning(api_tokens::token_hash)
                    .get_result::<Vec<u8>>(conn)
                    .optional()?;
                    if deleted.is_some() {
                        append(conn, &trail, &EventDraft::deleted_by_owner(user, id), at)?;
                    }
                    Ok(deleted)
                })
            })?
            .map(|bytes| crate::hash_of(bytes, "token"))
            .transpose()
    }

    fn list_for_user(&self, user: UserId) -> anyhow::Result<Vec<TokenRecord>> {
        let rows = self.store.read_query("listing tokens", |conn| {
            api_tokens::table
                .filter(api_tokens::user_id.eq(user.get()))
                .order((api_tokens::created_at.asc(), api_tokens::id.asc()))
                .select(TokenRow::as_select())
                .load::<TokenRow>(conn)
        })?;
        rows.into_iter().map(TokenRecord::try_from).collect()
    }

    fn find_by_hash(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        self.one(|conn| {
            api_tokens::table
                .filter(api_tokens::token_hash.eq(&hash.0[..]))
                .select(TokenRow::as_select())
                .get_result::<TokenRow>(conn)
                .optional()
        })
    }

    fn find_many_by_hash(&self, hashes: &[TokenHash]) -> anyhow::Result<Vec<TokenRecord>> {
        self.store.read("looking tokens up", |conn| {
            let mut found = Vec::new();
            for chunk in hashes.chunks(USAGE_CHUNK) {
                let wanted: Vec<&[u8]> = chunk.iter().map(|hash| &hash.0[..]).collect();
                let rows = api_tokens::table
                    .filter(api_tokens::token_hash.eq_any(wanted))
                    .select(TokenRow::as_select())
                    .load::<TokenRow>(conn)
                    .store_context("looking tokens up")?;
                for row in rows {
                    found.push(TokenRecord::try_from(row)?);
                }
            }
            Ok(found)
        })
    }

    fn delete(&self, user: UserId, hash: &TokenHash, at: Timestamp) -> anyhow::Result<bool> {
        let trail = self.store.trail();
        let deleted = self.store.write_query("deleting a token", |conn| {
            conn.transaction(|conn| {
                let deleted = diesel::delete(
                    api_tokens::table
                        .filter(api_tokens::user_id.eq(user.get()))
                        .filter(api_tokens::token_hash.eq(&hash.0[..])),
                )
                .returning(api_tokens::public_id)
                .get_result::<String>(conn)
                .optional()?;
                if let Some(text) = &deleted {
                    let id = parsed_token_id(text)?;
                    append(conn, &trail, &EventDraft::deleted_by_owner(user, id), at)?;
                }
                Ok(deleted.is_some())
            })
        })?;
        Ok(deleted)
    }

    fn delete_for_client(
        &self,
        hash: &TokenHash,
        client: &ClientId,
        at: Timestamp,
    ) -> anyhow::Result<ClientRevocation> {
        let trail = self.store.trail();
        self.store.write_query("revoking a token", |conn| {
            conn.transaction(|conn| {
                let deleted: Vec<DeletedToken> = diesel::delete(
                    api_tokens::table
                        .filter(api_tokens::token_hash.eq(&hash.0[..]))
                        .filter(api_tokens::from_api_client.eq(client.as_str())),
                )
                .returning(DELETED_TOKEN)
                .get_results(conn)?;
                let by = Actor::client(client);
                let reason = RevokeReason::OauthRevoke;
                if !append_revoked(conn, &trail, deleted, &by, reason, at)?.is_empty() {
                    return Ok(ClientRevocation::Revoked);
                }
                // Asked whatever the token is, so a canary answers as fast
                // as an unknown token.
                let canary: Option<(i64, String)> = api_tokens::table
                    .filter(api_tokens::token_hash.eq(&hash.0[..]))
                    .filter(api_tokens::canary.eq(true))
                    .select((api_tokens::user_id, api_tokens::public_id))
                    .get_result(conn)
                    .optional()?;
                let Some((user, id)) = canary else {
                    return Ok(ClientRevocation::NotRevoked);
                };
                Ok(ClientRevocation::Canary(Canary {
                    user: user_of(user)?,
                    id: parsed_token_id(&id)?,
                }))
            })
        })
    }

    fn delete_all_for_user(
        &self,
        user: UserId,
        client: Option<&ClientId>,
        at: Timestamp,
    ) -> anyhow::Result<Vec<TokenHash>> {
        let mut query = diesel::delete(api_tokens::table)
            .filter(api_tokens::user_id.eq(user.get()))
            .into_boxed();
        if let Some(client) = client {
            query = query.filter(api_tokens::from_api_client.eq(client.as_str()));
        }
        let trail = self.store.trail();
        self.store
            .write_query("revoking a user's tokens", |conn| {
                conn.transaction(|conn| {
                    let deleted: Vec<DeletedToken> =
                        query.returning(DELETED_TOKEN).get_results(conn)?;
                    let operator = Actor::operator();
                    append_revoked(conn, &trail, deleted, &operator, RevokeReason::Operator, at)
                })
            })
            .and_then(crate::token_hashes)
    }

    fn record_usage(&self, uses: &[TokenUse]) -> anyhow::Result<()> {
        crate::usage::record_usage(&self.store, uses)
    }

    fn warn_expiring(
        &self,
        now: Timestamp,
        horizon: Timestamp,
        limit: usize,
    ) -> anyhow::Result<usize> {
        // `NOT expiry_warned` as the partial index says it, not a bound
        // `= false`, so the planner can prove the index applies.
        let due: Vec<i64> = self
            .store
            .read_query("finding tokens about to expire", |conn| {
                api_tokens::table
                    .filter(api_tokens::expires_at.is_not_null())
                    .filter(diesel::dsl::not(api_tokens::expiry_warned))
                    .filter(api_tokens::expires_at.gt(now.as_millis()))
                    .filter(api_tokens::expires_at.le(horizon.as_millis()))
                    .filter(api_tokens::superseded_by.is_null())
                    .order(api_tokens::expires_at.asc())
                    .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                    .select(api_tokens::id)
                    .load(conn)
            })?;
        let trail = self.store.trail();
        let mut warned = 0;
        for id in due {
            // The warned flag settles a race between instances: only the
            // one whose update took the row appends the event.
            let took = self.store.write_query("warning of an expiry", |conn| {
                conn.transaction(|conn| {
                    // The read's conditions again: the token may have been
                    // rotated or changed since.
                    let taken: Option<(i64, String, Option<i64>)> = diesel::update(
                        api_tokens::table
                            .find(id)
                            .filter(diesel::dsl::not(api_tokens::expiry_warned))
                            .filter(api_tokens::expires_at.gt(now.as_millis()))
                            .filter(api_tokens::expires_at.le(horizon.as_millis()))
                            .filter(api_tokens::superseded_by.is_null()),
                    )
                    .set(api_tokens::expiry_warned.eq(true))
                    .returning((
                        api_tokens::user_id,
                        api_tokens::public_id,
                        api_tokens::expires_at,
                    ))
                    .get_result(conn)
                    .optional()?;
                    let Some((user, public_id, Some(expires_at))) = taken else {
                        return Ok(false);
                    };
                    let event = EventDraft::expiring(
                        user_of(user)?,
                        parsed_token_id(&public_id)?,
                        Timestamp::from_millis(expires_at),
                    );
                    append(conn, &trail, &event, now)?;
                    Ok(true)
                })
            })?;
            warned += usize::from(took);
        }
        Ok(warned)
    }

    fn record_event(&self, event: &EventDraft, at: Timestamp) -> anyhow::Result<()> {
        let trail = self.store.trail();
        self.store.write_query("recording an event", |conn| {
            conn.transaction(|conn| append(conn, &trail, event, at).map(drop))
        })
    }

    fn ping(&self) -> anyhow::Result<()> {
        use diesel::r2d2::R2D2Connection;
        self.store.read_query("database ping", |conn| conn.ping())
    }
}
