//! Recording uses in batches: `lastUsedAt` never moving back, the place of
//! the latest use (`lastUsedBy`), and the recent addresses (`lastUsedIps`)
//! with the newly noted ones in front of those stored. Off the request
//! path: on PostgreSQL one statement per 500 tokens; on SQLite, in process,
//! a few prepared statements per token, in the table's order.

use std::collections::HashMap;
use std::net::IpAddr;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, BigInt, Binary, Nullable, Text};
use diesel::sqlite::Sqlite;
use tessera_domain::{TokenUse, most_recent_first};

use crate::connection::{AnyConnection, Backend};
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
    match store.backend() {
        Backend::Postgres => record_postgres(store, uses),
        Backend::Sqlite => record_sqlite(store, uses),
    }
}

fn record_postgres(store: &Store, uses: &[TokenUse]) -> anyhow::Result<()> {
    for chunk in uses.chunks(USAGE_CHUNK) {
        store.write(WHAT, |conn| {
            conn.transaction(|conn| {
                let addresses = merged_addresses(conn, chunk)?;
                write_postgres(conn, chunk, &addresses)
            })
            .store_context(WHAT)
        })?;
    }
    Ok(())
}

/// SQLite writes each page a transaction dirties to the WAL (at the commit,
/// and before it whenever the small page cache spills). In fingerprint
/// order, uses spread over the whole table and dirtied about one page each;
/// in row order, neighbours share pages. So the rows are found first, by
/// reads in index order that hold no write turn, and written in row order.
fn record_sqlite(store: &Store, uses: &[TokenUse]) -> anyhow::Result<()> {
    let mut placed = Vec::with_capacity(uses.len());
    for chunk in uses.chunks(SQLITE_USAGE_TRANSACTION) {
        store.read(WHAT, |conn| {
            let conn = sqlite(conn).store_context(WHAT)?;
            for noted in chunk {
                let id = api_tokens::table
                    .filter(api_tokens::token_hash.eq(&noted.hash.0[..]))
                    .select(api_tokens::id)
                    .get_result::<i64>(conn)
                    .optional()
                    .store_context(WHAT)?;
                // A token deleted since its use has nothing to record.
                placed.extend(id.map(|id| (id, noted)));
            }
            anyhow::Ok(())
        })?;
    }
    placed.sort_unstable_by_key(|(id, _)| *id);
    for chunk in placed.chunks(SQLITE_USAGE_TRANSACTION) {
        store.write(WHAT, |conn| {
            conn.transaction(|conn| write_sqlite(sqlite(conn)?, chunk))
                .store_context(WHAT)
        })?;
    }
    Ok(())
}

fn sqlite(conn: &mut AnyConnection) -> Result<&mut SqliteConnection, DieselError> {
    match conn {
        AnyConnection::Sqlite(conn) => Ok(conn),
        AnyConnection::Postgresql(_) => Err(other_database("SQLite")),
    }
}

/// The noted addresses, then the stored ones not among them, at most five,
/// as the JSON the column holds. An unreadable stored list is replaced, not
/// an error. Read in the writing transaction; two instances flushing the
/// same token at the same moment may each keep only their own addresses.
fn merge_addresses(noted: &[IpAddr], stored: Option<String>) -> Result<String, DieselError> {
    let earlier: Vec<IpAddr> = stored
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    serde_json::to_string(&most_recent_first(noted, &earlier))
        .map_err(|e| DieselError::SerializationError(Box::new(e)))
}

/// [`merge_addresses`] for each use of a PostgreSQL chunk that noted
/// addresses, the stored lists read in one statement.
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
            merged.insert(hash, merge_addresses(&noted.ips, text)?);
        }
    }
    Ok(merged)
}

/// Round trips dominate: one set-based statement per chunk, its uses
/// bound as four arrays so that the statement's text never changes and each
/// connection prepares and plans it once (the text of a `VALUES` list grows
/// with the chunk, and PostgreSQL parsed and planned 2,000 parameters for
/// every chunk). A use older than the stored one changes nothing.
struct RecordUses<'a> {
    hashes: Vec<&'a [u8]>,
    ats: Vec<i64>,
    bys: Vec<Option<&'a str>>,
    ips: Vec<Option<&'a str>>,
}

fixed_statement!(RecordUses<'_>, id RecordUses<'static>, on PgConnection);

impl QueryFragment<Pg> for RecordUses<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE api_tokens SET last_used_at = used.at, \
             last_used_by = COALESCE(used.by, api_tokens.last_used_by), \
             last_used_ips = COALESCE(used.ips, api_tokens.last_used_ips) \
             FROM unnest(",
        );
        out.push_bind_param::<Array<Binary>, _>(&self.hashes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.bys)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.ips)?;
        out.push_sql(
            ") AS used(hash, at, by, ips) WHERE api_tokens.token_hash = used.hash \
             AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= used.at)",
        );
        Ok(())
    }
}

fn write_postgres(
    conn: &mut AnyConnection,
    chunk: &[TokenUse],
    addresses: &HashMap<Vec<u8>, String>,
) -> Result<(), DieselError> {
    let AnyConnection::Postgresql(conn) = conn else {
        return Err(other_database("PostgreSQL"));
    };
    RecordUses {
        hashes: chunk.iter().map(|noted| &noted.hash.0[..]).collect(),
        ats: chunk.iter().map(|noted| noted.at.as_millis()).collect(),
        bys: chunk.iter().map(|noted| noted.by.as_deref()).collect(),
        ips: chunk
            .iter()
            .map(|noted| addresses.get(&noted.hash.0[..]).map(String::as_str))
            .collect(),
    }
    .execute(conn)
    .map(drop)
}

/// A statement written for one backend, given the other's connection: a
/// bug, reported as an error rather than a panic.
fn other_database(written_for: &str) -> DieselError {
    DieselError::QueryBuilderError(
        format!("a statement for {written_for} on another database").into(),
    )
}

/// One use of the token in row `id` as one SQLite statement, the same text
/// for every use so that the connection prepares it once: Diesel prepares
/// an `UPDATE` built with its DSL anew on every execution, and parsing and
/// planning cost SQLite as much as the write itself. The fingerprint is
/// checked too, though ids are never reused. `None` leaves a column as it
/// is; an older use than the stored one changes nothing.
struct RecordUse<'a> {
    id: i64,
    hash: &'a [u8],
    at: i64,
    by: Option<&'a str>,
    ips: Option<&'a str>,
}

fixed_statement!(RecordUse<'_>, id RecordUse<'static>, on SqliteConnection);

impl QueryFragment<Sqlite> for RecordUse<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("UPDATE api_tokens SET last_used_at = ");
        out.push_bind_param::<BigInt, _>(&self.at)?;
        out.push_sql(", last_used_by = COALESCE(");
        out.push_bind_param::<Nullable<Text>, _>(&self.by)?;
        out.push_sql(", last_used_by), last_used_ips = COALESCE(");
        out.push_bind_param::<Nullable<Text>, _>(&self.ips)?;
        out.push_sql(", last_used_ips) WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        out.push_sql(" AND token_hash = ");
        out.push_bind_param::<Binary, _>(&self.hash)?;
        out.push_sql(" AND (last_used_at IS NULL OR last_used_at <= ");
        out.push_bind_param::<BigInt, _>(&self.at)?;
        out.push_sql(")");
        Ok(())
    }
}

/// In process there are no round trips, and SQLite plans a joined
/// `UPDATE … FROM` far worse than one cached statement per row; the gate is
/// free for token creation between transactions. A use with addresses reads
/// the stored ones just before its write, from the page the write changes.
fn write_sqlite(
    conn: &mut SqliteConnection,
    chunk: &[(i64, &TokenUse)],
) -> Result<(), DieselError> {
    for &(id, noted) in chunk {
        let ips = if noted.ips.is_empty() {
            None
        } else {
            let stored = api_tokens::table
                .find(id)
                .select(api_tokens::last_used_ips)
                .get_result::<Option<String>>(conn)
                .optional()?;
            let Some(stored) = stored else { continue };
            Some(merge_addresses(&noted.ips, stored)?)
        };
        RecordUse {
            id,
            hash: &noted.hash.0,
            at: noted.at.as_millis(),
            by: noted.by.as_deref(),
            ips: ips.as_deref(),
        }
        .execute(conn)?;
    }
    Ok(())
}
