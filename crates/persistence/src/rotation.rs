//! Rotation on Diesel: the claim of the old token, its successor, reuse
//! revoking a whole lineage, and the sweep of ended overlaps. The claim is
//! one conditional `UPDATE`, so the database settles concurrent rotations.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use tessera_domain::{
    Actor, RevokeReason, RotateError, Rotated, Rotation, RotationOf, Timestamp, TokenHash,
    TokenRecord,
};

use crate::audit::Trail;
use crate::audit::append_revoked;
use crate::connection::AnyConnection;
use crate::schema::api_tokens;
use crate::store::{Store, store_error};
use crate::suspensions::may_issue_to;
use crate::token_rows::{
    DELETED_TOKEN, DeletedToken, NewTokenRow, TokenRow, is_duplicate_token_hash,
};

pub(crate) fn rotate(store: &Store, rotation: &Rotation) -> Result<Rotated, RotateError> {
    const WHAT: &str = "rotating a token";
    let trail = store.trail();
    let outcome = store.write(WHAT, |conn| {
        conn.transaction::<_, RotateFailure, _>(|conn| rotate_in(conn, &trail, rotation))
            .map_err(|failure| match failure {
                RotateFailure::Db(error) if is_duplicate_token_hash(&error) => {
                    RotateError::DuplicateHash
                }
                RotateFailure::Db(error) => RotateError::Unexpected(store_error(error, WHAT)),
                RotateFailure::NotFound => RotateError::NotFound,
                RotateFailure::NotRotatable => RotateError::NotRotatable,
                RotateFailure::Suspended => RotateError::Suspended,
            })
    })?;
    let (old, successor) = outcome;
    Ok(Rotated {
        old: TokenRecord::try_from(old)?,
        successor: TokenRecord::try_from(successor)?,
    })
}

pub(crate) fn revoke_lineage(
    store: &Store,
    hash: &TokenHash,
    at: Timestamp,
) -> anyhow::Result<Vec<TokenHash>> {
    let trail = store.trail();
    store
        .write_query("revoking a reused token", |conn| {
            conn.transaction(|conn| {
                let mut doomed: Vec<Vec<u8>> = Vec::new();
                let mut next = api_tokens::table
                    .filter(api_tokens::token_hash.eq(&hash.0[..]))
                    .select((api_tokens::token_hash, api_tokens::superseded_by))
                    .get_result::<(Vec<u8>, Option<String>)>(conn)
                    .optional()?;
                while let Some((hash, successor)) = next {
                    if doomed.contains(&hash) {
                        break;
                    }
                    doomed.push(hash);
                    next = match successor {
                        Some(id) => api_tokens::table
                            .filter(api_tokens::public_id.eq(id))
                            .select((api_tokens::token_hash, api_tokens::superseded_by))
                            .get_result::<(Vec<u8>, Option<String>)>(conn)
                            .optional()?,
                        None => None,
                    };
                }
                let deleted: Vec<DeletedToken> = diesel::delete(
                    api_tokens::table.filter(api_tokens::token_hash.eq_any(&doomed)),
                )
                .returning(DELETED_TOKEN)
                .get_results(conn)?;
                let system = Actor::system();
                append_revoked(conn, &trail, deleted, &system, RevokeReason::Reuse, at)
            })
        })
        .and_then(crate::token_hashes)
}

pub(crate) fn purge_superseded(store: &Store, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
    let now = now.as_millis();
    store
        .write_query("purging superseded tokens", |conn| {
            diesel::delete(
                api_tokens::table
                    .filter(api_tokens::superseded_by.is_not_null())
                    .filter(
                        api_tokens::superseded_until
                            .le(now)
                            .or(api_tokens::expires_at.le(now)),
                    ),
            )
            .returning(api_tokens::token_hash)
            .get_results::<Vec<u8>>(conn)
        })
        .and_then(crate::token_hashes)
}

/// Why a rotation's transaction rolled back.
enum RotateFailure {
    Db(DieselError),
    NotFound,
    NotRotatable,
    Suspended,
}

impl From<DieselError> for RotateFailure {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

/// A rotation inside its transaction: claim the old row with a conditional
/// update (the row lock makes concurrent rotations of one token queue, and
/// all but the first find it superseded), store the successor from the
/// claimed row's current values, drop the old row unless it overlaps.
fn rotate_in(
    conn: &mut AnyConnection,
    trail: &Trail,
    rotation: &Rotation,
) -> Result<(TokenRow, TokenRow), RotateFailure> {
    let target: Option<(i64, i64)> = match rotation.of {
        RotationOf::Owned(user, id) => api_tokens::table
            .filter(api_tokens::public_id.eq(id.to_string()))
            .filter(api_tokens::user_id.eq(user.get()))
            .select((api_tokens::id, api_tokens::user_id))
            .get_result(conn)
            .optional()?,
        RotationOf::Presented(hash) => api_tokens::table
            .filter(api_tokens::token_hash.eq(&hash.0[..]))
            .select((api_tokens::id, api_tokens::user_id))
            .get_result(conn)
            .optional()?,
    };
    let (target, owner) = target.ok_or(RotateFailure::NotFound)?;
    if !may_issue_to(conn, trail.backend(), owner)? {
        return Err(RotateFailure::Suspended);
    }
    let now = rotation.now.as_millis();
    let old = diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(target))
            .filter(api_tokens::superseded_by.is_null())
            .filter(api_tokens::disabled.eq(false))
            .filter(
                api_tokens::expires_at
                    .is_null()
                    .or(api_tokens::expires_at.gt(now)),
            ),
    )
    .set((
        api_tokens::superseded_by.eq(rotation.successor_id.to_string()),
        api_tokens::superseded_until.eq(rotation.overlap_until.map_or(now, Timestamp::as_millis)),
    ))
    .returning(api_tokens::all_columns)
    .get_result::<TokenRow>(conn)
    .optional()?
    .ok_or(RotateFailure::NotRotatable)?;
    let successor = NewTokenRow {
        user_id: old.user_id,
        identifier: &old.identifier,
        token_hash: &rotation.successor_hash.0,
        token_sealed: &rotation.successor_sealed,
        permissions: old.permissions.clone(),
        from_api_client: old.from_api_client.as_deref(),
        created_at: now,
        expires_at: rotation
            .expires_at
            .map(Timestamp::as_millis)
            .or(old.expires_at)
            .or(rotation.default_expiry.map(Timestamp::as_millis)),
        public_id: rotation.successor_id.to_string(),
        allowed_ips: old.allowed_ips.clone(),
        canary: old.canary,
    };
    let successor = diesel::insert_into(api_tokens::table)
        .values(&successor)
        .returning(api_tokens::all_columns)
        .get_result::<TokenRow>(conn)?;
    if rotation.overlap_until.is_none() {
        diesel::delete(api_tokens::table.filter(api_tokens::id.eq(target))).execute(conn)?;
    }
    let old_id = crate::token_rows::parsed_token_id(&old.public_id)?;
    let user = crate::token_rows::user_of(old.user_id)?;
    crate::audit::append(
        conn,
        trail,
        &rotation.rotated_event(user, old_id),
        rotation.now,
    )?;
    Ok((old, successor))
}
