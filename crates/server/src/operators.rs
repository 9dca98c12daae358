//! Operators' commands (`tessera clients list`, `tessera tokens revoke`,
//! `tessera healthcheck`): the same services the HTTP API uses, run once
//! from the command line. Each returns the text to print, or an error the
//! binary turns into one line and a non-zero exit.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tessera_domain::{ClientId, SystemClock, UserId};
use tessera_oauth_clients::ClientError;

use crate::settings::Settings;
use crate::startup::{Services, build_services, open_database};

fn services(settings: &Settings) -> anyhow::Result<Services> {
    let database = open_database(settings)?;
    build_services(settings, &database, Arc::new(SystemClock))
}

/// One line per client: id, author (or `built-in`), name, permissions,
/// redirect URI; a header first, columns aligned.
pub fn list_clients(settings: &Settings) -> anyhow::Result<String> {
    let clients = services(settings)?.clients.list_all()?;
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
    let services = services(settings)?;
    let client = match client {
        Some(id) => match services.clients.get(id) {
            Ok(found) => Some(found.id),
            Err(ClientError::NotFound) => bail!("no OAuth2 client has the id {id:?}"),
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let revoked = services.tokens.revoke_all(user, client.as_ref())?;
    let scope = client
        .as_ref()
        .map(|c: &ClientId| format!(" issued from client {c}"))
        .unwrap_or_default();
    Ok(format!(
        "revoked {revoked} token(s) of user {}{scope}\n",
        user.get()
    ))
}

/// `GET url` over plain HTTP/1.1; succeeds on a 200.
pub fn healthcheck(settings: &Settings, url: Option<&str>) -> anyhow::Result<String> {
    let url = url.map_or_else(
        || format!("http://127.0.0.1:{}/readyz", settings.server.port),
        str::to_owned,
    );
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs can be probed"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let timeout = Duration::from_secs(3);
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("{authority}: not a host:port"))?
        .next()
        .with_context(|| format!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).context("reading the answer")?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    if status != "200" {
        bail!("{url} answered {status}");
    }
    Ok(format!("{url}: 200\n"))
}
