//! Operators' commands (`tessera clients list`, `tessera tokens revoke`,
//! `tessera users suspend|resume`, `tessera healthcheck`): the same services the HTTP API uses, run once
//! from the command line. Each returns the text to print, or an error the
//! binary turns into one line and a non-zero exit.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tessera_domain::audit::UnreadableEvent;
use tessera_domain::webhooks::{ReceiverStatus, WebhookOutbox as _};
use tessera_domain::{AuditLog, ChainBreak, ChainCheck, ClientId, SystemClock, UserId};
use tessera_oauth_clients::ClientError;

use crate::settings::Settings;
use tessera_persistence::Database;

use crate::startup::{Services, build_services};

/// The longest a command waits for its pool's threads to finish before
/// exiting.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Runs `work` with the services over the configured database, which must
/// be migrated already: an operator's command never changes the schema
/// under running instances (`tessera migrate` does, on purpose). The pool
/// is closed before this returns, so the process exits with no thread
/// inside libpq or OpenSSL (whose exit handlers would crash it).
fn with_services<T>(
    settings: &Settings,
    work: impl FnOnce(&Services) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    with_database(settings, |database| {
        let services = build_services(settings, database, Arc::new(SystemClock))?;
        work(&services)
    })
}

/// Runs `work` on the configured database, migrated already; the pool is
/// closed before this returns (see [`with_services`]).
fn with_database<T>(
    settings: &Settings,
    work: impl FnOnce(&Database) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let database = crate::startup::connect(settings)?;
    let outcome = (|| {
        if database.has_pending_migrations()? {
            bail!(
                "the database has migrations pending: run `tessera migrate` (or start the \
                 service) first"
            );
        }
        work(&database)
    })();
    database.close(CLOSE_WITHIN);
    outcome
}

/// One line per client: id, author (or `built-in`), name, permissions,
/// redirect URI; a header first, columns aligned.
pub fn list_clients(settings: &Settings) -> anyhow::Result<String> {
    let clients = with_services(settings, |services| services.clients.list_all())?;
    let mut rows = vec![[
        "CLIENT ID".to_owned(),
        "AUTHOR".to_owned(),
        "NAME".to_owned(),
        "PERMISSIONS".to_owned(),
        "REDIRECT URI".to_owned(),
    ]];
    for client in &clients {
        rows.push([
            client.id.to_string(),
            client
                .author
                .map_or_else(|| "built-in".to_owned(), |user| user.get().to_string()),
            client.name.clone(),
            client.permissions.iter().collect::<Vec<_>>().join(","),
            client
                .redirect_uri
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} client(s)\n", clients.len()));
    Ok(out)
}

/// Deletes all of `user`'s tokens, or those issued from `client`. Instances
/// on the same PostgreSQL drop them from their caches through the
/// revocation notifications the deletion itself raises.
pub fn revoke_tokens(
    settings: &Settings,
    user: &str,
    client: Option<&str>,
) -> anyhow::Result<String> {
    let user = UserId::parse(user).context("--user must be a positive integer")?;
    let (client, revoked) = with_services(settings, |services| {
        let client = match client {
            Some(id) => match services.clients.get(id) {
                Ok(found) => Some(found.id),
                Err(ClientError::NotFound) => bail!("no OAuth2 client has the id {id:?}"),
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        let revoked = services.tokens.revoke_all(user, client.as_ref())?;
        Ok((client, revoked))
    })?;
    let scope = client
        .as_ref()
        .map(|c: &ClientId| format!(" issued from client {c}"))
        .unwrap_or_default();
    Ok(format!(
        "revoked {revoked} token(s) of user {}{scope}\n",
        user.get()
    ))
}

/// Suspends `user`: instances drop their tokens from their caches through
/// the notifications the change itself raises (the SQLite follower reads
/// the same log), so they are refused everywhere within the deadline.
pub fn suspend_user(
    settings: &Settings,
    user: &str,
    reason: Option<&str>,
) -> anyhow::Result<String> {
    let user = UserId::parse(user).context("--user must be a positive integer")?;
    let refused = with_services(settings, |services| {
        services.tokens.suspend_user(user, reason)
    })?;
    Ok(format!(
        "suspended user {}: {refused} token(s) refused until `tessera users resume --user {}`\n",
        user.get(),
        user.get()
    ))
}

/// Lifts a suspension; says so when there was none.
pub fn resume_user(settings: &Settings, user: &str) -> anyhow::Result<String> {
    let user = UserId::parse(user).context("--user must be a positive integer")?;
    let restored = with_services(settings, |services| services.tokens.resume_user(user))?;
    Ok(match restored {
        Some(restored) => format!(
            "resumed user {}: {restored} token(s) work again\n",
            user.get()
        ),
        None => format!("user {} was not suspended: nothing to do\n", user.get()),
    })
}

/// Recomputes every user's chain (or `user`'s) from the database, page by
/// page; one line per user. Fails, with the same lines, when any chain is
/// broken, naming its first bad event.
pub fn verify_audit(settings: &Settings, user: Option<&str>) -> anyhow::Result<String> {
    let only = user
        .map(UserId::parse)
        .transpose()
        .context("--user must be a positive integer")?;
    with_database(settings, |database| {
        let log = database.audit_log();
        let heads: Vec<_> = log
            .heads()?
            .into_iter()
            .filter(|(u, _, _)| only.is_none_or(|only| only == *u))
            .collect();
        let headless: Vec<UserId> = log
            .headless()?
            .into_iter()
            .filter(|u| only.is_none_or(|only| only == *u))
            .collect();
        if let (Some(only), true) = (only, heads.is_empty() && headless.is_empty()) {
            return Ok(format!("user {}: no events\n", only.get()));
        }
        let mut report = String::new();
        let mut broken = 0;
        for user in headless {
            broken += 1;
            report.push_str(&format!(
                "user {}: BROKEN: {}\n",
                user.get(),
                ChainBreak::HeadMissing
            ));
        }
        for (user, seq, hash) in heads {
            let verified = match verify_chain_of(&log, user, seq, &hash) {
                // A stored event that no longer reads as one was edited.
                Err(error) => match error.downcast_ref::<UnreadableEvent>() {
                    Some(unreadable) => Err(ChainBreak::Edited {
                        seq: unreadable.seq,
                    }),
                    None => return Err(error),
                },
                Ok(verified) => verified,
            };
            let line = match verified {
                Ok(count) => format!("user {}: {count} event(s), chain intact\n", user.get()),
                Err(breach) => {
                    broken += 1;
                    format!("user {}: BROKEN: {breach}\n", user.get())
                }
            };
            report.push_str(&line);
        }
        if broken > 0 {
            bail!("{report}{broken} audit chain(s) broken");
        }
        Ok(report)
    })
}

/// `tessera webhooks status`: every configured receiver (and any other the
/// outbox still holds deliveries for), with its counts.
pub fn webhooks_status(settings: &Settings) -> anyhow::Result<String> {
    let configured = settings.receivers()?;
    with_database(settings, |database| {
        let mut statuses = database.webhook_outbox().status()?;
        for receiver in &configured {
            let name = &receiver.subscription.receiver;
            if !statuses.iter().any(|s| &s.receiver == name) {
                statuses.push(ReceiverStatus {
                    receiver: name.clone(),
                    ..ReceiverStatus::default()
                });
            }
        }
        if statuses.is_empty() {
            return Ok("no webhook receivers configured, and no deliveries\n".to_owned());
        }
        statuses.sort_by(|a, b| a.receiver.cmp(&b.receiver));
        let width = statuses
            .iter()
            .map(|s| s.receiver.len())
            .max()
            .unwrap_or(0)
            .max(8);
        let mut report = format!(
            "{:<width$}  {:>9}  {:>9}  {:>9}\n",
            "receiver", "pending", "delivered", "failed"
        );
        for s in statuses {
            let note = if configured
                .iter()
                .any(|r| r.subscription.receiver == s.receiver)
            {
                ""
            } else {
                "  (no longer configured)"
            };
            report.push_str(&format!(
                "{:<width$}  {:>9}  {:>9}  {:>9}{note}\n",
                s.receiver, s.pending, s.delivered, s.failed
            ));
        }
        Ok(report)
    })
}

/// One user's chain, 500 events at a time; the number of events when intact.
fn verify_chain_of(
    log: &dyn AuditLog,
    user: UserId,
    head_seq: u64,
    head_hash: &str,
) -> anyhow::Result<Result<u64, ChainBreak>> {
    let mut check = ChainCheck::default();
    let (mut after, mut count) = (0, 0);
    loop {
        let page = log.events(user, after, 500)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            // The next event after the head read above: appended by a
            // running instance since, not part of what is checked.
            if event.seq == count + 1 && event.seq > head_seq {
                return Ok(check.finish(head_seq, head_hash).map(|()| count));
            }
            if let Err(breach) = check.push(event) {
                return Ok(Err(breach));
            }
            count += 1;
        }
    }
    Ok(check.finish(head_seq, head_hash).map(|()| count))
}

/// `GET url` over plain HTTP/1.1; succeeds on a 200.
pub fn healthcheck(settings: &Settings, url: Option<&str>) -> anyhow::Result<String> {
    let url = url.map_or_else(
        || format!("http://127.0.0.1:{}/readyz", settings.server.port),
        str::to_owned,
    );
    let parsed = url::Url::parse(&url).with_context(|| format!("{url}: not a URL"))?;
    if parsed.scheme() != "http" {
        bail!("{url}: only http:// URLs can be probed");
    }
    let authority = match (parsed.host_str(), parsed.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => bail!("{url}: no host"),
    };
    let path = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let timeout = Duration::from_secs(3);
    // `localhost` may resolve to ::1 first while the service listens on
    // 127.0.0.1: try each address.
    let addresses = parsed
        .socket_addrs(|| Some(80))
        .with_context(|| format!("{authority}: cannot resolve the host"))?;
    let mut stream = addresses
        .iter()
        .find_map(|address| TcpStream::connect_timeout(address, timeout).ok())
        .with_context(|| {
            format!("connecting to {authority}: nothing answers (is the service running?)")
        })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    // Up to the end of the status line, however the bytes arrive.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && head.len() < 256 {
        match stream.read(&mut byte).context("reading the answer")? {
            0 => break,
            _ => head.push(byte[0]),
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or("?")
        .to_owned();
    if status != "200" {
        bail!("{url} answered {status}");
    }
    Ok(format!("{url}: 200\n"))
}

#[cfg(test)]
mod tests {
    use tessera_domain::testing::InMemoryStore;
    use tessera_domain::{
        Actor, ClientId, NewTokenRecord, PermissionSet, Timestamp, TokenHash, TokenId,
        TokenRepository, UserId,
    };

    use super::*;

    fn create(store: &InMemoryStore, byte: u8) {
        let user = UserId::new(3).expect("positive");
        let at = Timestamp::from_millis(1_764_337_200_000);
        let token = NewTokenRecord {
            public_id: TokenId::generate(at),
            user_id: user,
            identifier: format!("token {byte}"),
            hash: TokenHash([byte; 32]),
            sealed: vec![byte],
            permissions: PermissionSet::default(),
            from_api_client: None::<ClientId>,
            created_at: at,
            expires_at: None,
            allowed_ips: None,
            canary: false,
            created_by: Actor::session(user),
        };
        store.insert(token, at).expect("insert");
    }

    #[test]
    fn events_appended_after_the_heads_were_read_are_not_a_broken_chain() {
        let store = InMemoryStore::default();
        create(&store, 1);
        create(&store, 2);
        let (user, seq, hash) = store.heads().expect("heads").remove(0);
        create(&store, 3);

        assert_eq!(
            verify_chain_of(&store, user, seq, &hash).expect("reads"),
            Ok(2)
        );
        let (_, seq, hash) = store.heads().expect("heads").remove(0);
        assert_eq!(
            verify_chain_of(&store, user, seq, &hash).expect("reads"),
            Ok(3)
        );
        assert_eq!(
            verify_chain_of(&store, user, 4, &hash).expect("reads"),
            Err(ChainBreak::Truncated { last: 3, head: 4 }),
            "a head beyond the events still means events were removed"
        );
    }
}
