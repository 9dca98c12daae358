//! The OAuth2 storage ports on Diesel: registered clients (with the per-user
//! cap settled by a locked quota row) and authorization codes (redeemed in
//! one transaction with the token they yield).

use anyhow::Context as _;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tessera_domain::{
    Actor, AuthorizationCode, ClaimLost, ClientId, ClientRepository, ClientUpdate, CodeRepository,
    EventDraft, EventType, IdempotencyClaim, InsertClientError, NewTokenRecord, OAuthClient,
    PermissionSet, RedeemError, Redeemed, RevokeReason, StoredClient, Timestamp, TokenHash,
    TokenRecord, UserId,
};

use crate::audit::{append, append_revoked, append_revoked_with};
use crate::connection::Backend;
use crate::hash_of;
use crate::schema::{api_tokens, oauth_client_quota, oauth_clients, oauth_codes};
use crate::store::{Store, StoreContext as _, store_error};
use crate::token_rows::{
    DELETED_TOKEN, DeletedToken, TokenRow, insert_token_row, is_duplicate_token_hash, user_of,
};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_clients)]
struct ClientRow {
    client_id: String,
    author: i64,
    name: String,
    permissions: String,
    redirect_uri: Option<String>,
    webhook_uri: Option<String>,
    api_key_template: Option<String>,
    api_key_filename: Option<String>,
    secret_hash: Vec<u8>,
    secret_sealed: Vec<u8>,
    created_at: i64,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_codes)]
struct CodeRow {
    code_hash: Vec<u8>,
    user_id: i64,
    client_id: String,
    code_challenge: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    token_hash: Option<Vec<u8>>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = oauth_clients)]
struct ClientChanges<'a> {
    name: Option<&'a str>,
    redirect_uri: Option<Option<&'a str>>,
    webhook_uri: Option<Option<&'a str>>,
    api_key_template: Option<Option<&'a str>>,
    api_key_filename: Option<Option<&'a str>>,
}

impl TryFrom<ClientRow> for StoredClient {
    type Error = anyhow::Error;

    fn try_from(row: ClientRow) -> anyhow::Result<Self> {
        let permissions: Vec<String> =
            serde_json::from_str(&row.permissions).with_context(|| {
                format!("client {}: permissions are not a JSON array", row.client_id)
            })?;
        Ok(Self {
            client: OAuthClient {
                id: ClientId::new(row.client_id),
                name: row.name,
                author: Some(UserId::new(row.author)?),
                permissions: PermissionSet::from_trusted(permissions),
                redirect_uri: row.redirect_uri,
                webhook_uri: row.webhook_uri,
                api_key_template: row.api_key_template,
                api_key_filename: row.api_key_filename,
                created_at: Timestamp::from_millis(row.created_at),
            },
            secret_hash: hash_of(row.secret_hash, "client secret")?,
            secret_sealed: row.secret_sealed,
        })
    }
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = anyhow::Error;

    fn try_from(row: CodeRow) -> anyhow::Result<Self> {
        Ok(Self {
            hash: hash_of(row.code_hash, "code")?,
            user_id: UserId::new(row.user_id)?,
            client_id: ClientId::new(row.client_id),
            code_challenge: row.code_challenge,
            created_at: Timestamp::from_millis(row.created_at),
            expires_at: Timestamp::from_millis(row.expires_at),
            used_at: row.used_at.map(Timestamp::from_millis),
            token_hash: row.token_hash.map(|h| hash_of(h, "token")).transpose()?,
        })
    }
}

#[derive(Clone)]
pub struct DieselOAuthRepository {
    store: Store,
}

impl std::fmt::Debug for DieselOAuthRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DieselOAuthRepository")
            .finish_non_exhaustive()
    }
}

impl DieselOAuthRepository {
    /// Clients oldest first; only `author`'s when given.
    fn list(&self, author: Option<UserId>) -> anyhow::Result<Vec<StoredClient>> {
        let mut query = oauth_clients::table
            .order((
                oauth_clients::created_at.asc(),
                oauth_clients::client_id.asc(),
            ))
            .select(ClientRow::as_select())
            .into_boxed();
        if let Some(author) = author {
            query = query.filter(oauth_clients::author.eq(author.get()));
        }
        self.store
            .read_query("listing clients", |conn| query.load::<ClientRow>(conn))?
            .into_iter()
            .map(StoredClient::try_from)
            .collect()
    }

    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Whether a client id could be stored at all: one with a control
/// character (PostgreSQL `text` cannot even hold NUL) names no client, on
/// every backend alike, without a query.
fn storable_id(id: &str) -> bool {
    !id.chars().any(char::is_control)
}

/// Signals "over the cap" out of the transaction so it rolls back.
#[derive(Debug)]
enum InsertFailure {
    CapReached,
    /// The `Idempotency-Key` claim was taken over.
    ClaimLost,
    Db(DieselError),
}

impl From<DieselError> for InsertFailure {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

/// The author's quota row, created at zero unless it exists; SQLite's and
/// PostgreSQL's placeholders.
const QUOTA_ROW_SQL: [&str; 2] = [
    "INSERT INTO oauth_client_quota (user_id, used) VALUES (?, 0) ON CONFLICT (user_id) DO NOTHING",
    "INSERT INTO oauth_client_quota (user_id, used) VALUES ($1, 0) ON CONFLICT (user_id) DO NOTHING",
];

impl DieselOAuthRepository {
    /// Stores a client within the author's cap and completes `claim` with
    /// its id, in one transaction.
    fn insert_with(
        &self,
        stored: StoredClient,
        cap: u32,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<StoredClient, InsertClientError> {
        let client = &stored.client;
        let author = client
            .author
            .ok_or_else(|| anyhow::anyhow!("a stored client needs an author"))?
            .get();
        let row = ClientRow {
            client_id: client.id.as_str().to_owned(),
            author,
            name: client.name.clone(),
            permissions: serde_json::to_string(&client.permissions.iter().collect::<Vec<_>>())
                .context("encoding permissions")?,
            redirect_uri: client.redirect_uri.clone(),
            webhook_uri: client.webhook_uri.clone(),
            api_key_template: client.api_key_template.clone(),
            api_key_filename: client.api_key_filename.clone(),
            secret_hash: stored.secret_hash.0.to_vec(),
            secret_sealed: stored.secret_sealed.clone(),
            created_at: client.created_at.as_millis(),
        };
        let trail = self.store.trail();
        let backend = trail.backend();
        let postgres = backend == Backend::Postgres;
        self.store.write("storing a client", |conn| {
            let outcome = conn.transaction::<(), InsertFailure, _>(|conn| {
                // The quota row exists after this (both backends know
                // ON CONFLICT DO NOTHING; Diesel's builder does not offer it
                // for a connection that may be either) ...
                diesel::sql_query(QUOTA_ROW_SQL[usize::from(postgres)])
                    .bind::<diesel::sql_types::BigInt, _>(author)
                    .execute(conn)?;
                // ... and this update locks it until commit, so concurrent
                // creations for one user queue here and see each other's count.
                diesel::update(oauth_client_quota::table.find(author))
                    .set(oauth_client_quota::used.eq(oauth_client_quota::used + 1_i64))
                    .execute(conn)?;
                let used: i64 = oauth_client_quota::table
                    .find(author)
                    .select(oauth_client_quota::used)
                    .get_result(conn)?;
                if used > i64::from(cap) {
                    return Err(InsertFailure::CapReached);
                }
                diesel::insert_into(oauth_clients::table)
                    .values(&row)
                    .execute(conn)?;
                if let Some(event) = stored.created_event() {
                    append(conn, &trail, &event, stored.client.created_at)?;
                }
                if let Some(claim) = claim
                    && !crate::idempotency::complete(conn, claim, &row.client_id)?
                {
                    return Err(InsertFailure::ClaimLost);
                }
                Ok(())
            });
            match outcome {
                Ok(()) => Ok(stored),
                Err(InsertFailure::CapReached) => Err(InsertClientError::CapReached),
                Err(InsertFailure::ClaimLost) => {
                    Err(InsertClientError::Unexpected(ClaimLost.into()))
                }
                Err(InsertFailure::Db(DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation,
                    _,
                ))) => Err(InsertClientError::Duplicate),
                Err(InsertFailure::Db(e)) => Err(store_error(e, "inserting a client").into()),
            }
        })
    }
}

impl ClientRepository for DieselOAuthRepository {
    fn insert(&self, stored: StoredClient, cap: u32) -> Result<StoredClient, InsertClientError> {
        self.insert_with(stored, cap, None)
    }

    fn insert_claimed(
        &self,
        stored: StoredClient,
        cap: u32,
        claim: &IdempotencyClaim,
    ) -> Result<StoredClient, InsertClientError> {
        self.insert_with(stored, cap, Some(claim))
    }

    fn find(&self, id: &str) -> anyhow::Result<Option<StoredClient>> {
        if !storable_id(id) {
            return Ok(None);
        }
        self.store
            .read_query("looking a client up", |conn| {
                oauth_clients::table
                    .find(id)
                    .select(ClientRow::as_select())
                    .get_result::<ClientRow>(conn)
                    .optional()
            })?
            .map(StoredClient::try_from)
            .transpose()
    }

    fn list_all(&self) -> anyhow::Result<Vec<StoredClient>> {
        self.list(None)
    }

    fn list_by_author(&self, author: UserId) -> anyhow::Result<Vec<StoredClient>> {
        self.list(Some(author))
    }

    fn update(
        &self,
        id: &str,
        update: &ClientUpdate,
        at: Timestamp,
    ) -> anyhow::Result<Option<StoredClient>> {
        if !storable_id(id) {
            return Ok(None);
        }
        let changes = ClientChanges {
            name: update.name.as_deref(),
            redirect_uri: update.redirect_uri.as_ref().map(Option::as_deref),
            webhook_uri: update.webhook_uri.as_ref().map(Option::as_deref),
            api_key_template: update.api_key_template.as_ref().map(Option::as_deref),
            api_key_filename: update.api_key_filename.as_ref().map(Option::as_deref),
        };
        if update != &ClientUpdate::default() {
            let trail = self.store.trail();
            self.store.write_query("updating a client", |conn| {
                conn.transaction(|conn| {
                    let author: Option<i64> = diesel::update(oauth_clients::table.find(id))
                        .set(&changes)
                        .returning(oauth_clients::author)
                        .get_result(conn)
                        .optional()?;
                    if let Some(author) = author {
                        let event = update.updated_event(user_of(author)?, &ClientId::new(id));
                        append(conn, &trail, &event, at)?;
                    }
                    Ok(())
                })
            })?;
        }
        ClientRepository::find(self, id)
    }

    fn replace_secret(
        &self,
        id: &str,
        secret_hash: TokenHash,
        secret_sealed: Vec<u8>,
        at: Timestamp,
    ) -> anyhow::Result<Option<StoredClient>> {
        if !storable_id(id) {
            return Ok(None);
        }
        let trail = self.store.trail();
        let updated = self
            .store
            .write_query("replacing a client secret", |conn| {
                conn.transaction(|conn| {
                    let author: Option<i64> = diesel::update(oauth_clients::table.find(id))
                        .set((
                            oauth_clients::secret_hash.eq(&secret_hash.0[..]),
                            oauth_clients::secret_sealed.eq(&secret_sealed),
                        ))
                        .returning(oauth_clients::author)
                        .get_result(conn)
                        .optional()?;
                    if let Some(author) = author {
                        let event = EventDraft::for_client(
                            user_of(author)?,
                            EventType::ClientSecretReset,
                            &ClientId::new(id),
                        );
                        append(conn, &trail, &event, at)?;
                    }
                    Ok(author.is_some())
                })
            })?;
        if !updated {
            return Ok(None);
        }
        ClientRepository::find(self, id)
    }

    fn delete(&self, id: &str, at: Timestamp) -> anyhow::Result<Option<Vec<TokenHash>>> {
        if !storable_id(id) {
            return Ok(None);
        }
        let trail = self.store.trail();
        self.store.write("deleting a client", |conn| {
            let deleted = conn
                .transaction::<Option<Vec<Vec<u8>>>, DieselError, _>(|conn| {
                    let author: Option<i64> = oauth_clients::table
                        .find(id)
                        .select(oauth_clients::author)
                        .get_result(conn)
                        .optional()?;
                    let Some(author) = author else {
                        return Ok(None);
                    };
                    let tokens: Vec<DeletedToken> = diesel::delete(
                        api_tokens::table.filter(api_tokens::from_api_client.eq(id)),
                    )
                    .returning(DELETED_TOKEN)
                    .get_results(conn)?;
                    diesel::delete(oauth_codes::table.filter(oauth_codes::client_id.eq(id)))
                        .execute(conn)?;
                    diesel::delete(oauth_clients::table.find(id)).execute(conn)?;
                    diesel::update(oauth_client_quota::table.find(author))
                        .set(oauth_client_quota::used.eq(oauth_client_quota::used - 1_i64))
                        .execute(conn)?;
                    let author = user_of(author)?;
                    let by = Actor::session(author);
                    let event = EventDraft::for_client(
                        author,
                        EventType::ClientDeleted,
                        &ClientId::new(id),
                    );
                    let tokens = append_revoked_with(
                        conn,
                        &trail,
                        tokens,
                        &by,
                        RevokeReason::ClientDeleted,
                        Some(event),
                        at,
                    )?;
                    Ok(Some(tokens))
                })
                .store_context("deleting a client")?;
            deleted
                .map(|hashes| {
                    hashes
                        .into_iter()
                        .map(|h| hash_of(h, "token"))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()
        })
    }
}

#[derive(Debug)]
enum RedeemFailure {
    AlreadyUsed,
    Suspended,
    Db(DieselError),
}

impl From<DieselError> for RedeemFailure {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

impl CodeRepository for DieselOAuthRepository {
    fn insert(&self, code: AuthorizationCode) -> anyhow::Result<()> {
        let row = CodeRow {
            code_hash: code.hash.0.to_vec(),
            user_id: code.user_id.get(),
            client_id: code.client_id.as_str().to_owned(),
            code_challenge: code.code_challenge,
            created_at: code.created_at.as_millis(),
            expires_at: code.expires_at.as_millis(),
            used_at: code.used_at.map(Timestamp::as_millis),
            token_hash: code.token_hash.map(|h| h.0.to_vec()),
        };
        self.store
            .write_query("storing an authorization code", |conn| {
                diesel::insert_into(oauth_codes::table)
                    .values(&row)
                    .execute(conn)
            })
            .map(drop)
    }

    fn purge_expired(&self, now: Timestamp) -> anyhow::Result<usize> {
        self.store.write_query("purging expired codes", |conn| {
            diesel::delete(oauth_codes::table.filter(oauth_codes::expires_at.lt(now.as_millis())))
                .execute(conn)
        })
    }

    fn find(&self, hash: &TokenHash) -> anyhow::Result<Option<AuthorizationCode>> {
        self.store
            .read_query("looking a code up", |conn| {
                oauth_codes::table
                    .find(&hash.0[..])
                    .select(CodeRow::as_select())
                    .get_result::<CodeRow>(conn)
                    .optional()
            })?
            .map(AuthorizationCode::try_from)
            .transpose()
    }

    fn redeem(
        &self,
        code: &TokenHash,
        token: NewTokenRecord,
        now: Timestamp,
    ) -> Result<Redeemed, RedeemError> {
        let trail = self.store.trail();
        let backend = trail.backend();
        self.store.write("redeeming a code", |conn| {
            let outcome = conn.transaction::<(TokenRow, Vec<Vec<u8>>), RedeemFailure, _>(|conn| {
                if !crate::suspensions::may_issue_to(conn, backend, token.user_id.get())? {
                    return Err(RedeemFailure::Suspended);
                }
                // Only one of concurrent redemptions flips `used_at`.
                let marked = diesel::update(
                    oauth_codes::table
                        .find(&code.0[..])
                        .filter(oauth_codes::used_at.is_null()),
                )
                .set((
                    oauth_codes::used_at.eq(now.as_millis()),
                    oauth_codes::token_hash.eq(&token.hash.0[..]),
                ))
                .execute(conn)?;
                if marked == 0 {
                    return Err(RedeemFailure::AlreadyUsed);
                }
                let client = token.from_api_client.as_ref().map(ClientId::as_str);
                let replaced: Vec<DeletedToken> = diesel::delete(
                    api_tokens::table
                        .filter(api_tokens::user_id.eq(token.user_id.get()))
                        .filter(api_tokens::from_api_client.eq(client.unwrap_or_default())),
                )
                .returning(DELETED_TOKEN)
                .get_results(conn)?;
                let replaced = match &token.from_api_client {
                    Some(client) => {
                        let by = Actor::client(client);
                        let reason = RevokeReason::GrantReplaced;
                        append_revoked(conn, &trail, replaced, &by, reason, now)?
                    }
                    None => replaced.into_iter().map(|(hash, _, _)| hash).collect(),
                };
                let row = insert_token_row(conn, &token)?;
                crate::audit::append(conn, &trail, &token.created_event(), token.created_at)?;
                Ok((row, replaced))
            });
            match outcome {
                Ok((row, replaced)) => Ok(Redeemed {
                    token: TokenRecord::try_from(row)?,
                    replaced: replaced
                        .into_iter()
                        .map(|h| hash_of(h, "token"))
                        .collect::<anyhow::Result<_>>()?,
                }),
                Err(RedeemFailure::AlreadyUsed) => Err(RedeemError::AlreadyUsed),
                Err(RedeemFailure::Suspended) => Err(RedeemError::Suspended),
                Err(RedeemFailure::Db(e)) if is_duplicate_token_hash(&e) => {
                    Err(RedeemError::DuplicateHash)
                }
                Err(RedeemFailure::Db(e)) => Err(store_error(e, "redeeming a code").into()),
            }
        })
    }

    fn revoke_issued(&self, code: &TokenHash, at: Timestamp) -> anyhow::Result<Option<TokenHash>> {
        let trail = self.store.trail();
        self.store
            .write_query("revoking a replayed code's token", |conn| {
                conn.transaction(|conn| {
                    let issued: Option<Option<Vec<u8>>> = oauth_codes::table
                        .find(&code.0[..])
                        .select(oauth_codes::token_hash)
                        .get_result(conn)
                        .optional()?;
                    let Some(Some(hash)) = issued else {
                        return Ok(None);
                    };
                    let deleted: Vec<DeletedToken> =
                        diesel::delete(api_tokens::table.filter(api_tokens::token_hash.eq(&hash)))
                            .returning(DELETED_TOKEN)
                            .get_results(conn)?;
                    let system = Actor::system();
                    let hashes =
                        append_revoked(conn, &trail, deleted, &system, RevokeReason::Reuse, at)?;
                    Ok(hashes.into_iter().next())
                })
            })?
            .map(|hash| hash_of(hash, "token"))
            .transpose()
    }
}
