//! The `api_tokens` row as Diesel reads and writes it, and its one
//! conversion into the domain's `TokenRecord`: every repository that
//! returns or inserts a token row goes through here.

use std::net::IpAddr;

use anyhow::Context as _;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Array, BigInt, Binary, Bool, Nullable, Text};
use tessera_domain::{
    AllowedIps, ClientId, NewTokenRecord, PermissionSet, Timestamp, TokenId, TokenRecord, UserId,
};

use crate::connection::AnyConnection;
use crate::schema::api_tokens;

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
    /// Whether `token.expiring` was appended: the sweep's, read by no
    /// document, but a column of the row the `RETURNING`s take whole.
    #[expect(dead_code, reason = "read by the sweep's own queries, not from here")]
    pub(crate) expiry_warned: bool,
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
pub(crate) struct TokenChangeRow<'a> {
    pub(crate) identifier: Option<&'a str>,
    pub(crate) disabled: Option<bool>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) allowed_ips: Option<Option<String>>,
}

/// Address lists are JSON arrays of CIDR strings in a text column (Diesel's
/// `MultiConnection` has no JSON or array type common to both backends).
pub(crate) fn allowed_ips_column(
    allowed: Option<&AllowedIps>,
) -> Result<Option<String>, DieselError> {
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

/// Inserts one token row; callers own the transaction around it.
pub(crate) fn insert_token_row(
    conn: &mut AnyConnection,
    token: &NewTokenRecord,
) -> Result<TokenRow, DieselError> {
    diesel::insert_into(api_tokens::table)
        .values(&new_token_row(token)?)
        .returning(api_tokens::all_columns)
        .get_result::<TokenRow>(conn)
}

/// Inserts token rows, returned in the order of `tokens`: one statement on
/// PostgreSQL (Diesel's multi-row insert, which its `MultiConnection` does
/// not offer), one per row on SQLite, where a statement is no round trip.
/// Callers own the transaction around it.
pub(crate) fn insert_token_rows(
    conn: &mut AnyConnection,
    tokens: &[&NewTokenRecord],
) -> Result<Vec<TokenRow>, DieselError> {
    let AnyConnection::Postgresql(pg) = conn else {
        return tokens
            .iter()
            .map(|token| insert_token_row(conn, token))
            .collect();
    };
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tokens
        .iter()
        .map(|token| new_token_row(token))
        .collect::<Result<Vec<_>, _>>()?;
    let mut inserted: std::collections::HashMap<Vec<u8>, TokenRow> = InsertTokens::of(rows)
        .get_results::<TokenRow>(pg)?
        .into_iter()
        .map(|row| (row.token_hash.clone(), row))
        .collect();
    tokens
        .iter()
        .map(|token| {
            inserted.remove(&token.hash.0[..]).ok_or_else(|| {
                DieselError::DeserializationError("an inserted token was not returned".into())
            })
        })
        .collect()
}

/// A creation batch's rows as one `INSERT … SELECT FROM unnest(…)`, bound
/// as an array per column: the statement's text is the same for every
/// batch, so each connection parses and plans it once. A multi-row
/// `VALUES` list has a text per batch size and eleven parameters a row,
/// all parsed and planned again for every batch.
struct InsertTokens<'a> {
    user_ids: Vec<i64>,
    identifiers: Vec<&'a str>,
    hashes: Vec<&'a [u8]>,
    sealed: Vec<&'a [u8]>,
    permissions: Vec<String>,
    clients: Vec<Option<&'a str>>,
    created: Vec<i64>,
    expires: Vec<Option<i64>>,
    public_ids: Vec<String>,
    allowed_ips: Vec<Option<String>>,
    canaries: Vec<bool>,
}

impl<'a> InsertTokens<'a> {
    fn of(rows: Vec<NewTokenRow<'a>>) -> Self {
        let mut columns = Self {
            user_ids: Vec::with_capacity(rows.len()),
            identifiers: Vec::with_capacity(rows.len()),
            hashes: Vec::with_capacity(rows.len()),
            sealed: Vec::with_capacity(rows.len()),
            permissions: Vec::with_capacity(rows.len()),
            clients: Vec::with_capacity(rows.len()),
            created: Vec::with_capacity(rows.len()),
            expires: Vec::with_capacity(rows.len()),
            public_ids: Vec::with_capacity(rows.len()),
            allowed_ips: Vec::with_capacity(rows.len()),
            canaries: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            columns.user_ids.push(row.user_id);
            columns.identifiers.push(row.identifier);
            columns.hashes.push(row.token_hash);
            columns.sealed.push(row.token_sealed);
            columns.permissions.push(row.permissions);
            columns.clients.push(row.from_api_client);
            columns.created.push(row.created_at);
            columns.expires.push(row.expires_at);
            columns.public_ids.push(row.public_id);
            columns.allowed_ips.push(row.allowed_ips);
            columns.canaries.push(row.canary);
        }
        columns
    }
}

fixed_statement!(InsertTokens<'_>, id InsertTokens<'static>, on PgConnection, rows api_tokens::SqlType);

impl QueryFragment<Pg> for InsertTokens<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO api_tokens (user_id, identifier, token_hash, token_sealed, \
             permissions, from_api_client, created_at, expires_at, public_id, allowed_ips, \
             canary) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.user_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.identifiers)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.hashes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.sealed)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.permissions)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.clients)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.created)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(&self.expires)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.public_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.allowed_ips)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.canaries)?;
        out.push_sql(") RETURNING ");
        api_tokens::all_columns.walk_ast(out.reborrow())
    }
}

fn new_token_row(token: &NewTokenRecord) -> Result<NewTokenRow<'_>, DieselError> {
    let permissions = serde_json::to_string(&token.permissions.iter().collect::<Vec<_>>())
        .map_err(|e| DieselError::SerializationError(Box::new(e)))?;
    Ok(NewTokenRow {
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
    })
}

/// A stored user id, inside a transaction.
pub(crate) fn user_of(id: i64) -> Result<UserId, DieselError> {
    UserId::new(id).map_err(|e| DieselError::DeserializationError(e.to_string().into()))
}

/// A stored `public_id`, inside a transaction.
pub(crate) fn parsed_token_id(text: &str) -> Result<TokenId, DieselError> {
    TokenId::parse(text)
        .ok_or_else(|| DieselError::DeserializationError(format!("token id {text:?}").into()))
}

/// What a revoking `DELETE` returns of each token ([`DELETED_TOKEN`]): its
/// fingerprint, and the owner and id its `token.revoked` names.
pub(crate) type DeletedToken = (Vec<u8>, i64, String);

pub(crate) const DELETED_TOKEN: (
    api_tokens::token_hash,
    api_tokens::user_id,
    api_tokens::public_id,
) = (
    api_tokens::token_hash,
    api_tokens::user_id,
    api_tokens::public_id,
);

/// Whether a unique violation broke the token-fingerprint constraint.
pub(crate) fn is_duplicate_token_hash(error: &DieselError) -> bool {
    matches!(error, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some("api_tokens_token_hash_key")
            || info.message().contains("api_tokens.token_hash"))
}

/// Uses written per PostgreSQL statement; fingerprints looked up per
/// statement on both backends.
pub(crate) const USAGE_CHUNK: usize = 500;
