//! Recording uses in batches: `lastUsedAt` never moving back, the place of
//! the latest use (`lastUsedBy`), and the recent addresses (`lastUsedIps`)
//! with the newly noted ones in front of those stored. Off the request
//! path, a few statements per thousand tokens.

use std::collections::HashMap;
use std::net::IpAddr;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use tessera_domain::{TokenUse, most_recent_first};

use crate::connection::{AnyConnection, Backend, MultiBackend};
use crate::schema::api_tokens;
use crate::store::{Store, StoreContext as _};
use crate::token_rows::USAGE_CHUNK;

/// Uses written per SQLite transaction. Every page a commit touches goes to
/// the WAL once per commit, and uses are spread over the whole table: 100k
/// uses in transactions of 500 wrote about 200 × 500 pages, in
/// transactions of 10k each page about once per commit. 10k still holds the
/// write gate (and so token creation) for only tens of milliseconds.
const SQLITE_USAGE_TRANSACTION: usize = 10_000;

const WHAT: &str = "recording token use";

pub(crate) fn record_usage(store: &Store, uses: &[TokenUse]) -> anyhow::Result<()> {
    let backend = store.backend();
    let per_round = match backend {
        Backend::Postgres => USAGE_CHUNK,
        Backend::Sqlite => SQLITE_USAGE_TRANSACTION,
    };
    for chunk in uses.chunks(per_round) {
        store.write(WHAT, |conn| {
            conn.transaction(|conn| {
                let addresses = merged_addresses(conn, chunk)?;
                match backend {
                    Backend::Postgres => write_postgres(conn, chunk, &addresses),
                    Backend::Sqlite => write_sqlite(conn, chunk, &addresses),
                }
            })
            .store_context(WHAT)
        })?;
    }
    Ok(())
}

/// For each use that noted addresses: those addresses, then the stored
/// ones not among them, at most five, as the JSON the column holds. Read in
/// the writing transaction; two instances flushing the same token at the
/// same moment may each keep only their own addresses.
fn merged_addresses(
    conn: &mut AnyConnection,
    chunk: &[TokenUse],
) -> Result<HashMap<Vec<u8>, String>, DieselError> {
    let noted: HashMap<&[u8], &TokenUse> = chunk
        .iter()
        .filter(|noted| !noted.ips.is_empty())
        .map(|noted| (&noted.hash.0[..], noted))
        .collect();
    let wanted: Vec<&[u8]> = noted.keys().copied().collect();
    let mut merged = HashMap::with_capacity(wanted.len());
    for part in wanted.chunks(USAGE_CHUNK) {
        let stored = api_tokens::table
            .filter(api_tokens::token_hash.eq_any(part))
            .select((api_tokens::token_hash, api_tokens::last_used_ips))
            .load::<(Vec<u8>, Option<String>)>(conn)?;
        for (hash, text) in stored {
            let Some(noted) = noted.get(&hash[..]) else {
                continue;
            };
            // An unreadable stored list is replaced, not an error.
            let earlier: Vec<IpAddr> = text
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            let ips = most_recent_first(&noted.ips, &earlier);
            let json = serde_json::to_string(&ips)
                .map_err(|e| DieselError::SerializationError(Box::new(e)))?;
            merged.insert(hash, json);
        }
    }
    Ok(merged)
}

/// Round trips dominate: one set-based statement per chunk.
fn write_postgres(
    conn: &mut AnyConnection,
    chunk: &[TokenUse],
    addresses: &HashMap<Vec<u8>, String>,
) -> Result<(), DieselError> {
    let mut query =
        diesel::sql_query(postgres_usage_update_sql(chunk.len())).into_boxed::<MultiBackend>();
    for noted in chunk {
        query = query
            .bind::<diesel::sql_types::Binary, _>(noted.hash.0.to_vec())
            .bind::<diesel::sql_types::BigInt, _>(noted.at.as_millis())
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(noted.by.clone())
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(
                addresses.get(&noted.hash.0[..]).cloned(),
            );
    }
    query.execute(conn).map(drop)
}

/// The uses of `rows` tokens in one PostgreSQL statement: one round trip
/// per chunk instead of one per token; a use older than the stored one
/// changes nothing.
fn postgres_usage_update_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let n = 4 * i;
            format!(
                "(${}::bytea, ${}::bigint, ${}::text, ${}::text)",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            )
        })
        .collect();
    format!(
        "WITH used(hash, at, by, ips) AS (VALUES {}) \
         UPDATE api_tokens SET last_used_at = used.at, \
         last_used_by = COALESCE(used.by, api_tokens.last_used_by), \
         last_used_ips = COALESCE(used.ips, api_tokens.last_used_ips) FROM used \
         WHERE api_tokens.token_hash = used.hash \
         AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= used.at)",
        values.join(", ")
    )
}

/// What one use changes; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = api_tokens)]
struct UseRow<'a> {
    last_used_at: i64,
    last_used_by: Option<&'a str>,
    last_used_ips: Option<&'a str>,
}

/// In process there are no round trips, and SQLite plans a joined
/// `UPDATE … FROM` far worse than one cached statement per row; the gate is
/// free for token creation between transactions.
fn write_sqlite(
    conn: &mut AnyConnection,
    chunk: &[TokenUse],
    addresses: &HashMap<Vec<u8>, String>,
) -> Result<(), DieselError> {
    for noted in chunk {
        diesel::update(
            api_tokens::table
                .filter(api_tokens::token_hash.eq(&noted.hash.0[..]))
                .filter(
                    api_tokens::last_used_at
                        .is_null()
                        .or(api_tokens::last_used_at.le(noted.at.as_millis())),
                ),
        )
        .set(&UseRow {
            last_used_at: noted.at.as_millis(),
            last_used_by: noted.by.as_deref(),
            last_used_ips: addresses.get(&noted.hash.0[..]).map(String::as_str),
        })
        .execute(conn)?;
    }
    Ok(())
}
