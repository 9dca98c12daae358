//! The real `tessera` binary: configuration layering,
//! production refusal, clear one-line errors, migrate, session mint, and a
//! graceful stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tessera_domain::{Clock, SecretString, SystemClock, UserId};
use tessera_http_adapter::{SessionCodec, SessionSettings};
use tessera_server::settings::DEV_SESSION_SECRET;

use crate::helpers::workspace_root;

const GOOD_KEY: &str = "cHJvZHVjdGlvbi1rZXktdGhhdC1pcy1sb25nLWVub3VnaCE=";
const GOOD_SECRET: &str = "a-production-session-secret-of-forty-bytes";

fn tessera(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("tessera runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A clear failure: non-zero exit, one line on stderr, no panic.
fn assert_clear_failure(output: &Output, mentions: &str) {
    let text = stderr(output);
    assert!(!output.status.success(), "should fail: {text}");
    assert_eq!(text.trim().lines().count(), 1, "one line: {text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.contains(mentions),
        "should mention {mentions:?}: {text}"
    );
}

fn verifies_with(secret: &str, cookie: &str) -> Option<i64> {
    let codec = SessionCodec::new(&SessionSettings {
        cookie_name: "tessera_session".into(),
        secret: SecretString::new(secret),
    })
    .expect("codec");
    codec
        .verify(cookie.trim(), SystemClock.now())
        .ok()
        .map(UserId::get)
}

#[test]
fn the_configuration_is_found_from_any_folder_of_the_checkout() {
    let mint = ["session", "mint", "--user", "7", "--ttl", "120"];
    let deep = run(tessera(&workspace_root().join("crates/server/src")).args(mint));
    assert!(deep.status.success(), "{}", stderr(&deep));
    assert_eq!(verifies_with(DEV_SESSION_SECRET, &stdout(&deep)), Some(7));

    let outside = tempfile::tempdir().expect("a folder");
    let lost = run(tessera(outside.path()).args(mint));
    assert_clear_failure(&lost, "TESSERA_CONFIG_DIR");
    assert!(
        stderr(&lost).contains("config/default.toml"),
        "{}",
        stderr(&lost)
    );

    let named = run(tessera(outside.path())
        .env("TESSERA_CONFIG_DIR", workspace_root().join("config"))
        .args(mint));
    assert!(named.status.success(), "{}", stderr(&named));
    assert_eq!(verifies_with(DEV_SESSION_SECRET, &stdout(&named)), Some(7));

    let wrong = run(tessera(&workspace_root())
        .env("TESSERA_CONFIG_DIR", outside.path())
        .args(mint));
    assert_clear_failure(&wrong, "TESSERA_CONFIG_DIR");
}

#[test]
fn session_mint_prints_a_cookie_signed_with_the_configured_secret() {
    let output =
        run(tessera(&workspace_root()).args(["session", "mint", "--user", "42", "--ttl", "120"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        verifies_with(DEV_SESSION_SECRET, &stdout(&output)),
        Some(42)
    );
    assert_eq!(verifies_with("another secret", &stdout(&output)), None);

    let bad = run(tessera(&workspace_root()).args(["session", "mint", "--user", "0"]));
    assert_clear_failure(&bad, "--user");
}

#[test]
fn configuration_layers_default_env_file_then_variables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    std::fs::create_dir(&config).expect("config dir");
    std::fs::copy(
        workspace_root().join("config/default.toml"),
        config.join("default.toml"),
    )
    .expect("copy default.toml");
    std::fs::write(
        config.join("staging.toml"),
        "[session]\nsecret = \"from-staging-file\"\n",
    )
    .expect("staging.toml");
    let extra = dir.path().join("extra.toml");
    std::fs::write(&extra, "[session]\nsecret = \"from-config-flag\"\n").expect("extra.toml");
    let mint = |command: &mut Command| {
        let output = run(command.args(["session", "mint", "--user", "7"]));
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };

    assert_eq!(
        verifies_with(DEV_SESSION_SECRET, &mint(&mut tessera(dir.path()))),
        Some(7)
    );
    let staged = mint(tessera(dir.path()).env("TESSERA_ENV", "staging"));
    assert_eq!(verifies_with("from-staging-file", &staged), Some(7));
    let flagged = mint(
        tessera(dir.path())
            .env("TESSERA_ENV", "staging")
            .arg("--config")
            .arg(&extra),
    );
    assert_eq!(verifies_with("from-config-flag", &flagged), Some(7));
    let from_env = mint(
        tessera(dir.path())
            .env("TESSERA_ENV", "staging")
            .env("TESSERA__SESSION__SECRET", "from-environment")
            .arg("--config")
            .arg(&extra),
    );
    assert_eq!(verifies_with("from-environment", &from_env), Some(7));
    // An environment without its file is a typo, never a silent default.
    for typo in ["nowhere", "Staging", "stag"] {
        let missing = run(tessera(dir.path())
            .env("TESSERA_ENV", typo)
            .args(["session", "mint", "--user", "7"]));
        assert_clear_failure(&missing, &format!("TESSERA_ENV=\"{typo}\""));
        assert!(stderr(&missing).contains("staging"), "{}", stderr(&missing));
        assert!(stdout(&missing).is_empty(), "nothing minted");
    }
}

#[test]
fn a_mistyped_production_environment_does_not_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(tessera(&workspace_root())
        .env("TESSERA_ENV", "prod")
        .env(
            "TESSERA__DATABASE__URL",
            format!("sqlite://{}/typo.db", dir.path().display()),
        )
        .arg("migrate"));
    assert_clear_failure(&output, "production");
    assert!(
        !dir.path().join("typo.db").exists(),
        "nothing was created with development secrets"
    );
}

#[test]
fn unknown_configuration_keys_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "[server]\nprot = 8081\n").expect("write");
    let output = run(tessera(&workspace_root())
        .arg("--config")
        .arg(&file)
        .arg("migrate"));
    assert_clear_failure(&output, "prot");

    let missing =
        run(tessera(&workspace_root()).args(["--config", "/nonexistent/tessera.toml", "migrate"]));
    assert_clear_failure(&missing, "/nonexistent/tessera.toml");
}

#[test]
fn production_refuses_development_or_short_secrets() {
    let root = workspace_root();
    let dev = run(tessera(&root)
        .env("TESSERA_ENV", "production")
        .arg("migrate"));
    // Every setting to fix, in one line.
    for setting in ["session.secret", "security.secret_key", "database.url"] {
        assert_clear_failure(&dev, setting);
    }
    let default_database = run(tessera(&root)
        .env("TESSERA_ENV", "production")
        .env("TESSERA__SESSION__SECRET", GOOD_SECRET)
        .env("TESSERA__SECURITY__SECRET_KEY", GOOD_KEY)
        .arg("migrate"));
    assert_clear_failure(&default_database, "database.url");
    assert!(!stderr(&default_database).contains("session.secret"));

    let short_key = run(tessera(&root)
        .env("TESSERA_ENV", "production")
        .env("TESSERA__SESSION__SECRET", GOOD_SECRET)
        .env("TESSERA__SECURITY__SECRET_KEY", "c2hvcnQ=")
        .arg("migrate"));
    assert_clear_failure(&short_key, "security.secret_key");

    let dir = tempfile::tempdir().expect("temp dir");
    let ok = run(tessera(&root)
        .env("TESSERA_ENV", "production")
        .env("TESSERA__SESSION__SECRET", GOOD_SECRET)
        .env("TESSERA__SECURITY__SECRET_KEY", GOOD_KEY)
        .env(
            "TESSERA__DATABASE__URL",
            format!("sqlite://{}/p.db", dir.path().display()),
        )
        .arg("migrate"));
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn migrate_applies_once_then_does_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/nested/m.db", dir.path().display());
    let first = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("migrate"));
    assert!(first.status.success(), "{}", stderr(&first));
    let applied = stdout(&first);
    assert!(
        applied.starts_with("applied ") && !applied.starts_with("applied 0"),
        "{applied}"
    );
    let second = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("migrate"));
    assert!(
        stdout(&second).contains("applied 0 migration"),
        "{}",
        stdout(&second)
    );
}

#[test]
fn operators_commands_print_results_and_fail_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/ops.db", dir.path().display());
    // An operator's command never migrates the schema under running
    // instances: it asks for `tessera migrate` first.
    let unmigrated = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .args(["tokens", "revoke", "--user", "9"]));
    assert_clear_failure(&unmigrated, "tessera migrate");
    let migrated = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("migrate"));
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let listed = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .args(["clients", "list"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(
        stdout(&listed).starts_with("CLIENT ID"),
        "{}",
        stdout(&listed)
    );
    assert!(
        stdout(&listed).ends_with("0 client(s)\n"),
        "{}",
        stdout(&listed)
    );

    let revoked = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .args(["tokens", "revoke", "--user", "9"]));
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(stdout(&revoked), "revoked 0 token(s) of user 9\n");

    let bad_user = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .args(["tokens", "revoke", "--user", "0"]));
    assert_clear_failure(&bad_user, "--user");
    let unknown_client = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .args(["tokens", "revoke", "--user", "9", "--client", "CXNope"]));
    assert_clear_failure(&unknown_client, "CXNope");
    let unreachable = run(tessera(&workspace_root())
        .env(
            "TESSERA__DATABASE__URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .args(["clients", "list"]));
    assert_clear_failure(&unreachable, "PostgreSQL");
}

#[test]
fn healthcheck_probes_readiness() {
    let served = serve(&[]);
    let port = served.port.to_string();
    let ok = run(tessera(&workspace_root())
        .env("TESSERA__SERVER__PORT", &port)
        .arg("healthcheck"));
    assert!(ok.status.success(), "{}", stderr(&ok));
    let wrong = run(tessera(&workspace_root()).args([
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{port}/no-such-route"),
    ]));
    assert_clear_failure(&wrong, "404");
    let (exit, _) = served.terminate();
    assert!(exit.success());
    // Nothing listens on port 1 (the stopped instance's port could be
    // taken again by a test running alongside).
    let down = run(tessera(&workspace_root())
        .env("TESSERA__SERVER__PORT", "1")
        .arg("healthcheck"));
    assert_clear_failure(&down, "connecting");
    assert!(
        stderr(&down).contains("is the service running"),
        "{}",
        stderr(&down)
    );
    // An IPv6 literal is a URL like any other (not "not a host[:port]").
    let v6 =
        run(tessera(&workspace_root()).args(["healthcheck", "--url", "http://[::1]:1/readyz"]));
    assert_clear_failure(&v6, "connecting to [::1]:1");
}

#[test]
fn openapi_with_a_missing_configuration_file_says_so() {
    let output =
        run(tessera(&workspace_root()).args(["--config", "/nonexistent/t.toml", "openapi"]));
    assert_clear_failure(&output, "/nonexistent/t.toml");
    assert!(stdout(&output).is_empty());
}

#[test]
fn logs_written_to_a_pipe_have_no_colour_codes_and_short_latencies() {
    // An empty value removes the variable: colours are decided by whether
    // stderr is a terminal, not by NO_COLOR.
    let served = serve(&[("NO_COLOR", "")]);
    let (status, _) = served.http("GET /healthz HTTP/1.1\r\n", "");
    assert_eq!(status, 200);
    let start = served.start_line.clone();
    let (_, log) = served.terminate();
    let access = log
        .iter()
        .find(|line| line.contains("request finished"))
        .expect("an access line");
    for line in [&start, access] {
        assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
    }
    let latency = access
        .split("latency_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a latency");
    let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 3, "latency_ms={latency}");
}

#[test]
fn unreachable_database_is_one_clear_line() {
    let output = run(tessera(&workspace_root())
        .env(
            "TESSERA__DATABASE__URL",
            "postgres://nobody:hunter2-password@127.0.0.1:1/none",
        )
        .arg("serve"));
    assert_clear_failure(&output, "PostgreSQL");
    // Which setting to fix, and where it is, without its password.
    assert_clear_failure(&output, "database.url");
    assert_clear_failure(&output, "127.0.0.1:1/none");
    assert!(!stderr(&output).contains("hunter2"), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("keepalives"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_port_in_use_names_the_setting_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = taken.local_addr().expect("address").port().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(tessera(dir.path())
        .env("TESSERA_CONFIG_DIR", workspace_root().join("config"))
        .env("TESSERA__SERVER__PORT", &port)
        .arg("serve"));
    assert_clear_failure(&output, &format!("cannot listen on 127.0.0.1:{port}"));
    assert_clear_failure(&output, "server.port");
}

/// A running `tessera serve` on a free port with its log captured.
struct Served {
    child: std::process::Child,
    port: u16,
    /// The line that named the address.
    start_line: String,
    log: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

fn serve(extra_env: &[(&str, &str)]) -> Served {
    serve_with(extra_env, &[])
}

/// `tessera <args> serve` with these variables.
fn serve_with(extra_env: &[(&str, &str)], args: &[&str]) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = tessera(&workspace_root());
    command.args(args).arg("serve");
    command
        .env(
            "TESSERA__DATABASE__URL",
            format!("sqlite://{}/s.db", dir.path().display()),
        )
        .env("TESSERA__SERVER__PORT", "0");
    for (key, value) in extra_env {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let (port, start_line): (u16, String) = loop {
        let line = log.recv().expect("the log names the address before ending");
        if let Some((_, rest)) = line.split_once("listening on http://127.0.0.1:") {
            let port = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .expect("a port");
            break (port, line);
        }
    };
    Served {
        child,
        port,
        start_line,
        log,
        _dir: dir,
    }
}

impl Served {
    /// One HTTP/1.1 exchange; returns the status and the body.
    fn http(&self, head: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let request = format!(
            "{head}Host: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// SIGTERM, then the exit status and every log line.
    fn terminate(self) -> (std::process::ExitStatus, Vec<String>) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        self.terminate_after_signal()
    }

    /// The exit status and every log line of a process already signalled.
    fn terminate_after_signal(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("wait");
        (status, self.log.iter().collect())
    }
}

/// `server.trusted_proxies` from the environment, a comma-separated list:
/// the forwarded address counts only through it.
#[test]
fn trusted_proxies_come_from_a_comma_separated_variable() {
    let served = serve(&[("TESSERA__SERVER__TRUSTED_PROXIES", "10.9.0.0/16, 127.0.0.1")]);
    let minted = run(tessera(&workspace_root()).args(["session", "mint", "--user", "1"]));
    let cookie = format!("Cookie: tessera_session={}\r\n", stdout(&minted).trim());
    let json = "Content-Type: application/json\r\n";
    let (status, created) = served.http(
        &format!("POST /api/v1/users/1/api-tokens/create HTTP/1.1\r\n{cookie}{json}"),
        r#"{"identifier": "proxied", "permissions": []}"#,
    );
    assert_eq!(status, 200, "{created}");
    let created: serde_json::Value = serde_json::from_str(&created).expect("json");
    let (status, body) = served.http(
        &format!(
            "PATCH /api/v1/users/1/api-tokens/{} HTTP/1.1\r\n{cookie}{json}",
            created["id"].as_str().expect("id")
        ),
        r#"{"allowedIps": ["203.0.113.0/24"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let bearer = format!(
        "Authorization: Bearer {}\r\n",
        created["token"].as_str().expect("token")
    );
    let status_from = |forwarded: &str| {
        served
            .http(
                &format!("GET /api/v1/status HTTP/1.1\r\n{bearer}X-Forwarded-For: {forwarded}\r\n"),
                "",
            )
            .0
    };
    assert_eq!(status_from("203.0.113.9"), 200);
    assert_eq!(status_from("198.51.100.1"), 401);
    let (exit, log) = served.terminate();
    assert!(exit.success(), "exit status {exit}; log: {log:?}");
}

#[test]
fn a_bad_trusted_proxy_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(tessera(&workspace_root())
        .env(
            "TESSERA__DATABASE__URL",
            format!("sqlite://{}/p.db", dir.path().display()),
        )
        .env(
            "TESSERA__SERVER__TRUSTED_PROXIES",
            "10.0.0.0/8,the-balancer",
        )
        .arg("serve"));
    assert_clear_failure(&output, "server.trusted_proxies");
    assert!(
        stderr(&output).contains("the-balancer"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_fresh_instance_exports_every_counter_at_zero() {
    let served = serve(&[]);
    let (status, text) = served.http("GET /metrics HTTP/1.1\r\n", "");
    assert_eq!(status, 200);
    for series in [
        "tessera_tokens_created_total 0",
        "tessera_tokens_deleted_total 0",
    ] {
        assert!(text.lines().any(|line| line == series), "{series}: {text}");
    }
    for outcome in [
        "valid",
        "unknown",
        "expired",
        "malformed",
        "error",
        "disabled",
        "restricted",
        "suspended",
    ] {
        let series = format!(r#"tessera_token_verifications_total{{outcome="{outcome}"}} 0"#);
        assert!(text.lines().any(|line| line == series), "{series}: {text}");
    }
    served.terminate();
}

#[test]
fn output_cut_short_by_its_reader_is_not_a_failure() {
    // Only a document larger than a pipe's buffer (64 KiB) makes the
    // writer meet the closed pipe.
    let whole = run(tessera(&workspace_root()).arg("openapi"));
    assert!(whole.stdout.len() > 1 << 16, "{} bytes", whole.stdout.len());
    let mut child = tessera(&workspace_root())
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tessera runs");
    // Read a little, then hang up, as `tessera openapi | head -c 100` does.
    let mut first = [0u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the document starts");
    let output = child.wait_with_output().expect("tessera exits");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn serve_logs_its_port_and_stops_gracefully_on_sigterm() {
    let served = serve(&[]);
    let (status, _) = served.http("GET /healthz HTTP/1.1\r\n", "");
    assert_eq!(status, 200);
    let (exit, log) = served.terminate();
    assert!(exit.success(), "exit status {exit}; log: {log:?}");
}

/// The malloc settings (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`) as
/// the running service's own process holds them (the kernel's view of its
/// environment), after it answered a request.
fn malloc_settings_of(served: Served) -> (Option<String>, Option<String>) {
    let environ = std::fs::read(format!("/proc/{}/environ", served.child.id()))
        .expect("the process's environment");
    let (status, _) = served.http("GET /healthz HTTP/1.1\r\n", "");
    assert_eq!(status, 200, "the restarted image serves, under the same id");
    served.terminate();
    let entries: Vec<String> = environ
        .split(|byte| *byte == 0)
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .collect();
    let value = |name: &str| {
        entries
            .iter()
            .find_map(|entry| entry.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    (value("MALLOC_ARENA_MAX"), value("MALLOC_MMAP_THRESHOLD_"))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_service_tunes_malloc_in_its_own_process_unless_told_otherwise() {
    let set = |arenas: &str, threshold: &str| (Some(arenas.to_owned()), Some(threshold.to_owned()));
    assert_eq!(malloc_settings_of(serve(&[])), set("2", "65536"));
    assert_eq!(
        malloc_settings_of(serve(&[("MALLOC_MMAP_THRESHOLD_", "1048576")])),
        set("2", "1048576")
    );
    // The operator's arena setting means: leave malloc as it is.
    assert_eq!(
        malloc_settings_of(serve(&[("MALLOC_ARENA_MAX", "4")])),
        (Some("4".to_owned()), None)
    );
}

#[test]
fn the_start_up_line_names_environment_backend_database_and_address() {
    let served = serve(&[]);
    let port = served.port;
    let database = format!("sqlite://{}/s.db", served._dir.path().display());
    let line = served.start_line.clone();
    served.terminate();
    for part in [
        "environment=\"development\"".to_owned(),
        "backend=SQLite".to_owned(),
        format!("database={database}"),
        format!("address=http://127.0.0.1:{port}"),
    ] {
        assert!(line.contains(&part), "{part} in {line}");
    }
}

/// `signal` while a request is in flight: the request still gets its
/// answer, and the process exits 0 once it has.
fn drains_on(signal: &str) {
    let served = serve(&[]);
    let mut stream = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    let body = r#"{"echo":"in flight"}"#;
    write!(
        stream,
        "POST /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    // `100 Continue` comes once the request is being handled.
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut interim = String::new();
    reader.read_line(&mut interim).expect("interim status");
    assert!(interim.contains("100"), "{interim}");
    reader.read_line(&mut interim).expect("blank line");
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &served.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    stream.write_all(body.as_bytes()).expect("body");
    let mut response = String::new();
    reader.read_to_string(&mut response).expect("answer");
    assert!(response.starts_with("HTTP/1.1 200"), "{signal}: {response}");
    assert!(response.contains("in flight"), "{response}");
    let (exit, log) = served.terminate_after_signal();
    assert!(exit.success(), "{signal}: exit status {exit}; log: {log:?}");
    assert!(
        !log.iter().any(|line| line.contains("forced")),
        "{signal}: {log:?}"
    );
}

#[test]
fn sigint_drains_in_flight_requests_like_sigterm() {
    drains_on("INT");
    drains_on("TERM");
}

/// Creates tokens from 8 clients at once, `kill -9`s the service in the
/// middle of it, starts it again on the same database: every token whose
/// `200` arrived is there.
fn acknowledged_tokens_survive_a_kill_9(url: &str) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let served = serve(&[("TESSERA__DATABASE__URL", url)]);
    let port = served.port;
    let codec = SessionCodec::new(&SessionSettings {
        cookie_name: "tessera_session".into(),
        secret: SecretString::new(DEV_SESSION_SECRET),
    })
    .expect("codec");
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=8_i64)
        .map(|user| {
            let cookie = codec
                .mint(UserId::new(user).expect("positive"), 600, SystemClock.now())
                .expect("mint")
                .expose()
                .to_owned();
            let (acked, count, killed) = (acked.clone(), count.clone(), killed.clone());
            std::thread::spawn(move || {
                let body = r#"{"identifier":"crash","permissions":["submit_score"]}"#;
                while !killed.load(Ordering::SeqCst) {
                    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                        return;
                    };
                    let request = format!(
                        "POST /api/v1/users/{user}/api-tokens/create HTTP/1.1\r\nHost: x\r\n\
                         Connection: close\r\nContent-Type: application/json\r\n\
                         Cookie: tessera_session={cookie}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let mut response = String::new();
                    if stream.write_all(request.as_bytes()).is_err()
                        || stream.read_to_string(&mut response).is_err()
                    {
                        continue;
                    }
                    if !response.starts_with("HTTP/1.1 200") {
                        continue;
                    }
                    let Some((_, json)) = response.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let document: serde_json::Value = serde_json::from_str(json).expect("json");
                    let token = document["token"].as_str().expect("token").to_owned();
                    acked.lock().expect("acked").push((user, token));
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while count.load(Ordering::SeqCst) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut child = served.child;
    child.kill().expect("SIGKILL");
    killed.store(true, Ordering::SeqCst);
    child.wait().expect("reaped");
    for writer in writers {
        writer.join().expect("writer");
    }
    let acked = acked.lock().expect("acked").clone();

    let again = serve(&[("TESSERA__DATABASE__URL", url)]);
    let mut missing = Vec::new();
    for user in 1..=8_i64 {
        let cookie = codec
            .mint(UserId::new(user).expect("positive"), 600, SystemClock.now())
            .expect("mint");
        let (status, body) = again.http(
            &format!(
                "GET /api/v1/users/{user}/api-tokens HTTP/1.1\r\nCookie: tessera_session={}\r\n",
                cookie.expose()
            ),
            "",
        );
        assert_eq!(status, 200, "{body}");
        let listed: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
        let stored: std::collections::HashSet<&str> =
            listed.iter().filter_map(|t| t["token"].as_str()).collect();
        missing.extend(
            acked
                .iter()
                .filter(|(owner, token)| *owner == user && !stored.contains(token.as_str()))
                .map(|(_, token)| token.clone()),
        );
    }
    assert!(acked.len() >= 200);
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged tokens lost",
        missing.len(),
        acked.len()
    );
    let (exit, _) = again.terminate();
    assert!(exit.success());
}

#[test]
fn acknowledged_tokens_survive_a_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    acknowledged_tokens_survive_a_kill_9(&format!("sqlite://{}/crash.db", dir.path().display()));
}

#[test]
fn acknowledged_tokens_survive_a_kill_9_on_postgres() {
    let db = tessera_persistence::testing::TestDatabase::postgres();
    acknowledged_tokens_survive_a_kill_9(db.url());
}

/// The operators' commands on PostgreSQL, many times over: each must end
/// with its pool's threads finished, never crash at exit.
#[test]
fn operators_commands_on_postgres_always_exit_cleanly() {
    let db = tessera_persistence::testing::TestDatabase::postgres();
    let url = db.url().to_owned();
    let migrate = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("migrate"));
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let commands: [&[&str]; 3] = [
        &["migrate"],
        &["clients", "list"],
        &["tokens", "revoke", "--user", "1"],
    ];
    let runs = 100;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = commands
            .iter()
            .map(|args| {
                let url = url.clone();
                scope.spawn(move || {
                    (0..runs)
                        .filter_map(|i| {
                            let output = run(tessera(&workspace_root())
                                .env("TESSERA__DATABASE__URL", &url)
                                .args(*args));
                            (!output.status.success()).then(|| {
                                format!("{args:?} run {i}: {:?} {}", output.status, stderr(&output))
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} runs failed: {failures:#?}",
        failures.len(),
        runs * 3
    );
}

#[test]
fn logs_of_a_token_lifecycle_hold_no_token() {
    for format in ["text", "json"] {
        let served = serve(&[("RUST_LOG", "trace"), ("TESSERA__LOG__FORMAT", format)]);
        let mint = run(tessera(&workspace_root()).args(["session", "mint", "--user", "3"]));
        let cookie = format!("Cookie: tessera_session={}\r\n", stdout(&mint).trim());
        let (status, body) = served.http(
            &format!("POST /api/v1/users/3/api-tokens/create HTTP/1.1\r\nContent-Type: application/json\r\n{cookie}"),
            r#"{"identifier":"logged","permissions":["submit_score"]}"#,
        );
        assert_eq!(status, 200, "{body}");
        let document: serde_json::Value = serde_json::from_str(&body).expect("json");
        let token = document["token"].as_str().expect("token").to_owned();
        let bearer = format!("Authorization: Bearer {token}\r\n");
        assert_eq!(
            served
                .http(&format!("GET /api/v1/status HTTP/1.1\r\n{bearer}"), "")
                .0,
            200
        );
        assert_eq!(
            served
                .http(
                    &format!("GET /api/v1/users/3/api-tokens HTTP/1.1\r\n{cookie}"),
                    ""
                )
                .0,
            200
        );
        let delete = format!("DELETE /api/v1/users/3/api-token/{token} HTTP/1.1\r\n{cookie}");
        assert_eq!(served.http(&delete, "").0, 200);
        assert_eq!(
            served
                .http(&format!("GET /api/v1/status HTTP/1.1\r\n{bearer}"), "")
                .0,
            401
        );
        assert_eq!(served.http(&delete, "").0, 404);

        let traced = served.http(
            &format!(
                "GET /api/v1/status HTTP/1.1\r\nX-Request-Id: lifecycle-{format}-42\r\n{bearer}"
            ),
            "",
        );
        assert_eq!(traced.0, 401);

        let (exit, log) = served.terminate();
        assert!(exit.success());
        let text = log.join("\n");
        let access_line = log
            .iter()
            .find(|line| {
                line.contains(&format!("lifecycle-{format}-42"))
                    && line.contains("request finished")
            })
            .unwrap_or_else(|| panic!("one line for the traced request: {text}"));
        if format == "json" {
            let line: serde_json::Value = serde_json::from_str(access_line).expect("a JSON line");
            let span = &line["span"];
            assert_eq!(span["method"], "GET", "{line}");
            assert_eq!(span["route"], "/api/v1/status", "{line}");
            assert_eq!(
                span["request_id"],
                format!("lifecycle-{format}-42"),
                "{line}"
            );
            assert_eq!(line["fields"]["status"], 401, "{line}");
            assert!(line["fields"]["latency_ms"].as_f64().is_some(), "{line}");
        } else {
            for field in ["GET", "/api/v1/status", "status=401", "latency_ms="] {
                assert!(access_line.contains(field), "{field}: {access_line}");
            }
        }
        assert!(
            text.contains("api-token/{token}"),
            "the access log names the route template"
        );
        let secret_part = &token[4..token.len() - 4];
        assert!(!text.contains(secret_part), "{format} log holds a token");
        assert!(
            !text.contains(stdout(&mint).trim()),
            "{format} log holds a session"
        );
    }
}

#[test]
fn webhook_settings_are_checked_and_status_lists_every_receiver() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/hooks.db", dir.path().display());
    let secret = "whsec_dGVzc2VyYS13ZWJob29rLXRlc3Qtc2VjcmV0LTAxMjM=";
    let config = |name: &str, body: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, body).expect("write");
        file
    };
    for (name, webhook, mentions) in [
        (
            "userinfo.toml",
            format!(
                "url = \"http://user:pw@h.example/SECRETPATH\"\nsecret = \"{secret}\"\nevents = [\"*\"]"
            ),
            "user name or password",
        ),
        (
            "duplicate.toml",
            format!(
                "url = \"http://h.example/SECRETPATH\"\nsecret = \"{secret}\"\nevents = [\"*\"]\n\
                 [[webhooks]]\nurl = \"http://h.example/SECRETPATH\"\nsecret = \"{secret}\"\nevents = [\"*\"]"
            ),
            "configured twice",
        ),
        (
            "scheme.toml",
            format!("url = \"ftp://hooks.example/t\"\nsecret = \"{secret}\"\nevents = [\"*\"]"),
            "https://",
        ),
        (
            "relative.toml",
            format!("url = \"/hook\"\nsecret = \"{secret}\"\nevents = [\"*\"]"),
            "absolute",
        ),
        (
            "secret.toml",
            "url = \"http://h.example/t\"\nsecret = \"whsec_c2hvcnQ=\"\nevents = [\"*\"]"
                .to_owned(),
            "secret",
        ),
        (
            "pattern.toml",
            format!("url = \"http://h.example/t\"\nsecret = \"{secret}\"\nevents = [\"tokens.*\"]"),
            "tokens.*",
        ),
        (
            "empty.toml",
            format!("url = \"http://h.example/t\"\nsecret = \"{secret}\"\nevents = []"),
            "event pattern",
        ),
        (
            "unknown.toml",
            format!(
                "url = \"http://h.example/t\"\nsecret = \"{secret}\"\nevents = [\"*\"]\nretries = 3"
            ),
            "retries",
        ),
    ] {
        let file = config(name, &format!("[[webhooks]]\n{webhook}\n"));
        let refused = run(tessera(&workspace_root())
            .env("TESSERA__DATABASE__URL", &url)
            .arg("--config")
            .arg(&file)
            .arg("migrate"));
        assert_clear_failure(&refused, mentions);
        assert!(!stderr(&refused).contains(secret), "{}", stderr(&refused));
        // Nor the URL's path, which may be the receiver's own secret.
        assert!(
            !stderr(&refused).contains("SECRETPATH"),
            "{}",
            stderr(&refused)
        );
    }

    let good = config(
        "good.toml",
        &format!(
            "[[webhooks]]\nurl = \"https://b.example/hook\"\nsecret = \"{secret}\"\nevents = [\"token.*\"]\n\n\
             [[webhooks]]\nurl = \"http://a.example/hook\"\nsecret = \"{secret}\"\nevents = [\"*\"]\n"
        ),
    );
    let migrated = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("--config")
        .arg(&good)
        .arg("migrate"));
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    // An operator's suspension is an event too: its deliveries wait.
    let suspended = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("--config")
        .arg(&good)
        .args(["users", "suspend", "--user", "3"]));
    assert!(suspended.status.success(), "{}", stderr(&suspended));
    let status = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", &url)
        .arg("--config")
        .arg(&good)
        .args(["webhooks", "status"]));
    assert!(status.status.success(), "{}", stderr(&status));
    let lines: Vec<Vec<String>> = stdout(&status)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    // Named by scheme, host and a fingerprint: never the path, which may
    // hold a receiver's own secret.
    let row = |url: &str, counts: [&str; 3]| {
        let name = tessera_domain::webhooks::receiver_name(&url::Url::parse(url).expect("url"));
        let mut row: Vec<String> = name.split_whitespace().map(str::to_owned).collect();
        row.extend(counts.map(str::to_owned));
        row
    };
    let header: Vec<String> = ["receiver", "pending", "delivered", "failed"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(
        lines,
        [
            header,
            row("http://a.example/hook", ["1", "0", "0"]),
            row("https://b.example/hook", ["0", "0", "0"]),
        ],
        "{}",
        stdout(&status)
    );
}

/// A webhook receiver on plain threads: it holds every connection without
/// a word until told to answer, then answers each request `200`, noting
/// its `webhook-id`.
struct StalledReceiver {
    port: u16,
    answering: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ids: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl StalledReceiver {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let receiver = Self {
            port,
            answering: Default::default(),
            held: Default::default(),
            ids: Default::default(),
        };
        let (answering, held, ids) = (
            receiver.answering.clone(),
            receiver.held.clone(),
            receiver.ids.clone(),
        );
        std::thread::spawn(move || {
            let mut holding = Vec::new();
            for stream in listener.incoming().flatten() {
                if !answering.load(Ordering::SeqCst) {
                    holding.push(stream);
                    held.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let ids = ids.clone();
                std::thread::spawn(move || answer(stream, &ids));
            }
        });
        receiver
    }
}

/// Reads one request and answers `200`, noting its `webhook-id`.
fn answer(stream: TcpStream, ids: &std::sync::Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let (mut id, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "webhook-id" => id = value.trim().to_owned(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut stream = reader.into_inner();
    if stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .is_ok()
    {
        ids.lock().expect("ids").push(id);
    }
}

/// A delivery in flight when the service is `kill -9`ed is delivered by
/// the restarted service once the dead one's hold on it ends.
fn a_delivery_in_flight_survives_a_kill_9(url: &str) {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let receiver = StalledReceiver::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hooks.toml");
    std::fs::write(
        &config,
        format!(
            "[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\n\
             secret = \"whsec_dGVzc2VyYS13ZWJob29rLXRlc3Qtc2VjcmV0LTAxMjM=\"\n\
             events = [\"user.*\"]\n",
            receiver.port
        ),
    )
    .expect("write");
    let config = config.to_str().expect("utf-8");
    let env = [("TESSERA__DATABASE__URL", url)];
    let served = serve_with(&env, &["--config", config]);
    // An operator's suspension: its event's delivery is written with it and
    // taken by the running service.
    let suspended = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", url)
        .args(["--config", config, "users", "suspend", "--user", "9"]));
    assert!(suspended.status.success(), "{}", stderr(&suspended));
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.held.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(receiver.held.load(Ordering::SeqCst), 1, "in flight");
    let mut child = served.child;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    receiver.answering.store(true, Ordering::SeqCst);
    let again = serve_with(&env, &["--config", config]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while receiver.ids.lock().expect("ids").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(*receiver.ids.lock().expect("ids"), ["9.1"]);
    let status = run(tessera(&workspace_root())
        .env("TESSERA__DATABASE__URL", url)
        .args(["--config", config, "webhooks", "status"]));
    let line = stdout(&status)
        .lines()
        .nth(1)
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "));
    assert_eq!(line.as_deref(), Some("0 1 0"), "{}", stdout(&status));
    let (exit, _) = again.terminate();
    assert!(exit.success());
}

#[test]
fn a_delivery_in_flight_survives_a_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    a_delivery_in_flight_survives_a_kill_9(&format!("sqlite://{}/hooks.db", dir.path().display()));
}

#[test]
fn a_delivery_in_flight_survives_a_kill_9_on_postgres() {
    let db = tessera_persistence::testing::TestDatabase::postgres();
    a_delivery_in_flight_survives_a_kill_9(db.url());
}
