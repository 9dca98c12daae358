//! The process's Prometheus recorder: installed once (a recorder is
//! process-wide), with histogram buckets for request latency, the build
//! info, and the database pool gauges refreshed at every scrape.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tessera_domain::TokenCache;
use tessera_http_adapter::HTTP_DURATION;
use tessera_http_adapter::MetricsRenderer;
use tessera_persistence::Database;

/// Request latency buckets, seconds: a cached verification answers in well
/// under a millisecond, a token creation in tens of them.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Samples waiting in a histogram are folded into it this often even when
/// nobody scrapes, so memory does not grow with the request count.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder, installed on first use; `None` if another recorder was
/// installed first (the process then exports nothing of ours).
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|error| tracing::warn!(%error, "metrics recorder not installed"))
                .ok()?;
            tessera_http_adapter::describe_metrics();
            crate::webhooks::describe_metrics();
            metrics::describe_gauge!("tessera_build_info", "Version of the running binary");
            metrics::gauge!("tessera_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            metrics::describe_gauge!(
                "tessera_db_pool_connections",
                "Database connections open, by state (idle, in_use)"
            );
            metrics::describe_gauge!(
                "tessera_db_pool_max_connections",
                "Most connections the pool opens"
            );
            metrics::describe_gauge!(
                "tessera_revocation_view_age_seconds",
                "Age of this instance's proof that it knows every revocation; cached \
                 verifications are served only below cache.max_staleness_ms"
            );
            metrics::describe_gauge!(
                "tessera_db_circuit_open",
                "1 while the database is known to be down and requests are answered 503 at once"
            );
            metrics::describe_counter!(
                "tessera_token_cache_misses_total",
                "Verifications the cache could not answer (they read the database)"
            );
            metrics::describe_gauge!(
                "tessera_token_cache_entries",
                "Fingerprints cached, by kind (valid, unknown); at most cache.max_entries valid"
            );
            metrics::describe_counter!(
                "tessera_db_queries_total",
                "Statements run on the pool's connections"
            );
            Some(handle)
        })
        .clone()
}

/// What `/metrics` serves for an instance on `database`.
pub fn renderer(
    handle: PrometheusHandle,
    database: Database,
    cache: Arc<TokenCache>,
) -> MetricsRenderer {
    Arc::new(move || {
        // Never proven: as old as the process, for alerting purposes.
        let age = cache
            .view()
            .age()
            .map_or(f64::INFINITY, |age| age.as_secs_f64());
        metrics::gauge!("tessera_revocation_view_age_seconds").set(age);
        metrics::gauge!("tessera_db_circuit_open").set(if database.circuit_open() {
            1.0
        } else {
            0.0
        });
        metrics::counter!("tessera_token_cache_misses_total").absolute(cache.misses());
        let (valid, unknown) = cache.entries();
        metrics::gauge!("tessera_token_cache_entries", "kind" => "valid").set(valid as f64);
        metrics::gauge!("tessera_token_cache_entries", "kind" => "unknown").set(unknown as f64);
        metrics::counter!("tessera_db_queries_total").absolute(database.queries_run());
        let pool = database.pool_state();
        let idle = pool.idle.min(pool.connections);
        metrics::gauge!("tessera_db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("tessera_db_pool_connections", "state" => "in_use")
            .set(f64::from(pool.connections - idle));
        metrics::gauge!("tessera_db_pool_max_connections").set(f64::from(pool.max_size));
        handle.render()
    })
}
