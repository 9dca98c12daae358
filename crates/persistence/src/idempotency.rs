//! `Idempotency-Key`s on Diesel. Claims are settled by the primary key
//! (one row per user, scope and key: of concurrent claims exactly one
//! inserts it) and completed inside the transaction that stores the record
//! (see [`complete`]), so the key's outcome and the record stand or fall
//! together.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tessera_domain::idempotency::{ABANDONED_AFTER, KEY_LIFETIME};
use tessera_domain::{ClaimOutcome, IdempotencyClaim, IdempotencyStore, Timestamp};

use crate::connection::AnyConnection;
use crate::schema::idempotency_keys;
use crate::store::{Store, StoreContext as _};

#[derive(Clone)]
pub struct DieselIdempotencyStore {
    store: Store,
}

impl std::fmt::Debug for DieselIdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselIdempotencyStore")
            .finish_non_exhaustive()
    }
}

impl DieselIdempotencyStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// The row of `claim`'s key.
macro_rules! key_row {
    ($claim:expr) => {
        idempotency_keys::table
            .filter(idempotency_keys::user_id.eq($claim.user.get()))
            .filter(idempotency_keys::scope.eq($claim.scope.as_str()))
            .filter(idempotency_keys::idem_key.eq($claim.key.as_str()))
    };
}

/// Records `outcome` as what `claim`'s request created; `false` when the
/// claim no longer holds the key (taken over): the caller rolls back.
pub(crate) fn complete(
    conn: &mut AnyConnection,
    claim: &IdempotencyClaim,
    outcome: &str,
) -> Result<bool, DieselError> {
    let updated = diesel::update(
        key_row!(claim)
            .filter(idempotency_keys::claim.eq(claim.claim))
            .filter(idempotency_keys::outcome.is_null()),
    )
    .set(idempotency_keys::outcome.eq(outcome))
    .execute(conn)?;
    Ok(updated == 1)
}

impl IdempotencyStore for DieselIdempotencyStore {
    fn claim(&self, claim: &IdempotencyClaim, at: Timestamp) -> anyhow::Result<ClaimOutcome> {
        let (now, forgotten, abandoned) = (
            at.as_millis(),
            (at - KEY_LIFETIME).as_millis(),
            (at - ABANDONED_AFTER).as_millis(),
        );
        self.store.write("claiming an Idempotency-Key", |conn| {
            // Forgotten after a day; every key of this user past it goes too.
            diesel::delete(
                idempotency_keys::table
                    .filter(idempotency_keys::user_id.eq(claim.user.get()))
                    .filter(idempotency_keys::created_at.le(forgotten)),
            )
            .execute(conn)
            .store_context("forgetting old Idempotency-Keys")?;
            let inserted = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::user_id.eq(claim.user.get()),
                    idempotency_keys::scope.eq(claim.scope.as_str()),
                    idempotency_keys::idem_key.eq(claim.key.as_str()),
                    idempotency_keys::fingerprint.eq(&claim.fingerprint[..]),
                    idempotency_keys::claim.eq(claim.claim),
                    idempotency_keys::created_at.eq(now),
                    idempotency_keys::claimed_at.eq(now),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => return Ok(ClaimOutcome::Claimed),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
                Err(error) => {
                    return Err(crate::store::store_error(
                        error,
                        "claiming an Idempotency-Key",
                    ));
                }
            }
            let existing: Option<(Vec<u8>, Option<String>, i64)> = key_row!(claim)
                .select((
                    idempotency_keys::fingerprint,
                    idempotency_keys::outcome,
                    idempotency_keys::claimed_at,
                ))
                .get_result(conn)
                .optional()
                .store_context("reading an Idempotency-Key")?;
            let Some((fingerprint, outcome, claimed_at)) = existing else {
                // Released between our insert and read: the retry claims it.
                return Ok(ClaimOutcome::InProgress);
            };
            if fingerprint != claim.fingerprint {
                return Ok(ClaimOutcome::Mismatch);
            }
            if let Some(outcome) = outcome {
                return Ok(ClaimOutcome::Done(outcome));
            }
            if claimed_at <= abandoned {
                let taken = diesel::update(
                    key_row!(claim)
                        .filter(idempotency_keys::claimed_at.eq(claimed_at))
                        .filter(idempotency_keys::outcome.is_null()),
                )
                .set((
                    idempotency_keys::claim.eq(claim.claim),
                    idempotency_keys::claimed_at.eq(now),
                ))
                .execute(conn)
                .store_context("taking over an Idempotency-Key")?;
                if taken == 1 {
                    return Ok(ClaimOutcome::Claimed);
                }
            }
            Ok(ClaimOutcome::InProgress)
        })
    }

    fn release(&self, claim: &IdempotencyClaim) -> anyhow::Result<()> {
        self.store
            .write_query("releasing an Idempotency-Key", |conn| {
                diesel::delete(
                    key_row!(claim)
                        .filter(idempotency_keys::claim.eq(claim.claim))
                        .filter(idempotency_keys::outcome.is_null()),
                )
                .execute(conn)
            })
            .map(drop)
    }
}
