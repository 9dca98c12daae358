//! The token storage port on Diesel. Invariants live in the schema (unique
//! fingerprint, one token per user and client); this code only translates
//! their violations into the port's errors.

use anyhow::Context as _;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::net::IpAddr;

use tessera_domain::{
    AllowedIps, ClaimLost, ClientId, IdempotencyClaim, InsertTokenError, NewTokenRecord,
    PermissionSet, RotateError, Rotated, Rotation, Timestamp, TokenChange, TokenHash, TokenId,
    TokenRecord, TokenRepository, TokenUse, UpdateTokenError, UserId,
};

use crate::connection::AnyConnection;
use crate::schema::api_tokens;
use crate::store::{Store, StoreContext as _, store_error};
use crate::suspensions::{is_suspended, may_issue_to};

/// Fields in the table's column order: `RETURNING` reads `all_columns`
/// (Diesel's `as_returning` does not work on `MultiConnection`).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub(crate) struct TokenRow {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) identifier: String,
    pub(crate) token_hash: Vec<u8>,
    pub(crate) token_sealed: Vec<u8>,
    pub(crate) permissions: String,
    pub(crate) from_api_client: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) public_id: String,
    pub(crate) disabled: bool,
    pub(crate) allowed_ips: Option<String>,
    pub(crate) canary: bool,
    pub(crate) superseded_by: Option<String>,
    pub(crate) superseded_until: Option<i64>,
    pub(crate) last_used_by: Option<String>,
    pub(crate) last_used_ips: Option<String>,
    pub(crate) owner_suspended: bool,
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
pub(crate) struct NewTokenRow<'a> {
    pub(crate) user_id: i64,
    pub(crate) identifier: &'a str,
    pub(crate) token_hash: &'a [u8],
    pub(crate) token_sealed: &'a [u8],
    pub(crate) permissions: String,
    pub(crate) from_api_client: Option<&'a str>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) public_id: String,
    pub(crate) allowed_ips: Option<String>,
    pub(crate) canary: bool,
}

/// The members `PATCH` may change; `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = api_tokens)]
struct TokenChangeRow<'a> {
    identifier: Option<&'a str>,
    disabled: Option<bool>,
    expires_at: Option<i64>,
    allowed_ips: Option<Option<String>>,
}

/// Address lists are JSON arrays of CIDR strings in a text column (Diesel's
/// `MultiConnection` has no JSON or array type common to both backends).
fn allowed_ips_column(allowed: Option<&AllowedIps>) -> Result<Option<String>, DieselError> {
    allowed
        .map(|allowed| serde_json::to_string(&allowed.to_strings()))
        .transpose()
        .map_err(|e| DieselError::SerializationError(Box::new(e)))
}

fn public_id_of(text: &str, row: i64) -> anyhow::Result<TokenId> {
    TokenId::parse(text).with_context(|| format!("token {row}: {text:?} is not a UUID"))
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = anyhow::Error;

    fn try_from(row: TokenRow) -> anyhow::Result<Self> {
        let permissions: Vec<String> = serde_json::from_str(&row.permissions)
            .with_context(|| format!("token {}: permissions are not a JSON array", row.id))?;
        let hash = crate::hash_of(row.token_hash, &format!("token {}:", row.id))?;
        let allowed_ips = row
            .allowed_ips
            .map(|text| {
                let entries: Vec<String> = serde_json::from_str(&text)?;
                anyhow::Ok(AllowedIps::parse(&entries)?)
            })
            .transpose()
            .with_context(|| format!("token {}: allowed_ips", row.id))?;
        let last_used_ips = row
            .last_used_ips
            .map(|text| serde_json::from_str::<Vec<IpAddr>>(&text))
            .transpose()
            .with_context(|| format!("token {}: last_used_ips", row.id))?
            .unwrap_or_default();
        Ok(Self {
            id: row.id,
            public_id: public_id_of(&row.public_id, row.id)?,
            user_id: UserId::new(row.user_id)?,
            identifier: row.identifier,
            hash,
            sealed: row.token_sealed,
            permissions: PermissionSet::from_trusted(permissions),
            from_api_client: row.from_api_client.map(ClientId::new),
            created_at: Timestamp::from_millis(row.created_at),
            expires_at: row.expires_at.map(Timestamp::from_millis),
            last_used_at: row.last_used_at.map(Timestamp::from_millis),
            disabled: row.disabled,
            allowed_ips,
            canary: row.canary,
            superseded_by: row
                .superseded_by
                .map(|text| public_id_of(&text, row.id))
                .transpose()?,
            superseded_until: row.superseded_until.map(Timestamp::from_millis),
            last_used_by: row.last_used_by,
            last_used_ips,
            owner_suspended: row.owner_suspended,
        })
    }
}

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
    /// benchmarks, not for the service (which goes through the port).
    pub fn insert_many(&self, tokens: &[NewTokenRecord]) -> anyhow::Result<()> {
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

/// Uses written per PostgreSQL statement; fingerprints looked up per
/// statement on both backends.
pub(crate) const USAGE_CHUNK: usize = 500;

/// Inserts one token row; callers own the transaction around it.
pub(crate) fn insert_token_row(
    conn: &mut AnyConnection,
    token: &NewTokenRecord,
) -> Result<TokenRow, DieselError> {
    let permissions = serde_json::to_string(&token.permissions.iter().collect::<Vec<_>>())
        .map_err(|e| DieselError::SerializationError(Box::new(e)))?;
    let row = NewTokenRow {
        user_id: token.user_id.get(),
        identifier: &token.identifier,
        token_hash: &token.hash.0,
        token_sealed: &token.sealed,
        permissions,
        from_api_client: token.from_api_client.as_ref().map(ClientId::as_str),
        created_at: token.created_at.as_millis(),
        expires_at: token.expires_at.map(Timestamp::as_millis),
        public_id: token.public_id.to_string(),
        allowed_ips: allowed_ips_column(token.allowed_ips.as_ref())?,
        canary: token.canary,
    };
    diesel::insert_into(api_tokens::table)
        .values(&row)
        .returning(api_tokens::all_columns)
        .get_result::<TokenRow>(conn)
}

/// Whether a unique violation broke the token-fingerprint constraint.
pub(crate) fn is_duplicate_token_hash(error: &DieselError) -> bool {
    matches!(error, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some("api_tokens_token_hash_key")
            || info.message().contains("api_tokens.token_hash"))
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
        let backend = self.store.backend();
        let inserted = self.store.write("inserting a token", |conn| {
            conn.transaction::<TokenRow, InsertFailure, _>(|conn| {
                if !may_issue_to(conn, backend, token.user_id.get())? {
                    return Err(InsertFailure::Suspended);
                }
                if let Some(client) = &token.from_api_client {
                    // An expired token from the same client is replaced, not
                    // a conflict; an unexpired one makes the insert fail on
                    // api_tokens_user_client_uidx.
                    diesel::delete(
                        api_tokens::table
                            .filter(api_tokens::user_id.eq(token.user_id.get()))
                            .filter(api_tokens::from_api_client.eq(client.as_str()))
                            .filter(api_tokens::expires_at.le(now.as_millis())),
                    )
                    .execute(conn)?;
                }
                let row = insert_token_row(conn, &token)?;
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
    ) -> Result<TokenRecord, UpdateTokenError> {
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

    fn resume(&self, user: UserId) -> anyhow::Result<Option<Vec<TokenHash>>> {
        crate::suspensions::resume(&self.store, user)
    }

    fn revoke_lineage(&self, hash: &TokenHash) -> anyhow::Result<Vec<TokenHash>> {
        crate::rotation::revoke_lineage(&self.store, hash)
    }

    fn purge_superseded(&self, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        crate::rotation::purge_superseded(&self.store, now)
    }

    fn delete_by_public_id(&self, user: UserId, id: TokenId) -> anyhow::Result<Option<TokenHash>> {
        self.store
            .write_query("deleting a token", |conn| {
                diesel::delete(
                    api_tokens::table
                        .filter(api_tokens::user_id.eq(user.get()))
                        .filter(api_tokens::public_id.eq(id.to_string())),
                )
                .returning(api_tokens::token_hash)
                .get_result::<Vec<u8>>(conn)
                .optional()
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

    fn delete(&self, user: UserId, hash: &TokenHash) -> anyhow::Result<bool> {
        let deleted = self.store.write_query("deleting a token", |conn| {
            diesel::delete(
                api_tokens::table
                    .filter(api_tokens::user_id.eq(user.get()))
                    .filter(api_tokens::token_hash.eq(&hash.0[..])),
            )
            .execute(conn)
        })?;
        Ok(deleted > 0)
    }

    fn delete_for_client(&self, hash: &TokenHash, client: &ClientId) -> anyhow::Result<bool> {
        let deleted = self.store.write_query("revoking a token", |conn| {
            diesel::delete(
                api_tokens::table
                    .filter(api_tokens::token_hash.eq(&hash.0[..]))
                    .filter(api_tokens::from_api_client.eq(client.as_str())),
            )
            .execute(conn)
        })?;
        Ok(deleted > 0)
    }

    fn delete_all_for_user(
        &self,
        user: UserId,
        client: Option<&ClientId>,
    ) -> anyhow::Result<Vec<TokenHash>> {
        let mut query = diesel::delete(api_tokens::table)
            .filter(api_tokens::user_id.eq(user.get()))
            .into_boxed();
        if let Some(client) = client {
            query = query.filter(api_tokens::from_api_client.eq(client.as_str()));
        }
        self.store
            .write_query("revoking a user's tokens", |conn| {
                query
                    .returning(api_tokens::token_hash)
                    .get_results::<Vec<u8>>(conn)
            })
            .and_then(crate::token_hashes)
    }

    fn record_usage(&self, uses: &[TokenUse]) -> anyhow::Result<()> {
        crate::usage::record_usage(&self.store, uses)
    }

    fn ping(&self) -> anyhow::Result<()> {
        use diesel::r2d2::R2D2Connection;
        self.store.read_query("database ping", |conn| conn.ping())
    }
}
