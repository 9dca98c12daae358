//! The verifier against a fake Tessera over real HTTP: answers from the
//! cache only while the feed proves them fresh, revocations applied from
//! the feed, and a `503` instead of a hang when Tessera does not answer.

use std::net::IpAddr;
use std::time::Duration;

use crate::fake::{CLIENT_ID, Fake, Mode, eventually, fresh};
use tessera_client::{Refusal, Verifier};

/// A fresh verifier that has `tok-a` (user 1) in its cache.
async fn holding_tok_a(fake: &Fake) -> Verifier {
    fake.add_token("tok-a", 1, "");
    let verifier = fresh(fake).await;
    verifier.verify("tok-a", None).await.expect("valid");
    verifier
}

#[actix_web::test]
async fn a_valid_token_is_introspected_once_then_answered_from_the_cache() {
    let fake = Fake::start();
    let fingerprint = fake.add_token("tok-a", 7, "submit_score manage_rivals");
    let verifier = fresh(&fake).await;

    let principal = verifier.verify("tok-a", None).await.expect("valid");
    assert_eq!(principal.user_id, 7);
    assert_eq!(principal.permissions, ["submit_score", "manage_rivals"]);
    assert_eq!(principal.fingerprint, fingerprint);
    assert!(principal.has("submit_score") && !principal.has("delete_score"));
    for _ in 0..10 {
        assert_eq!(
            verifier.verify("tok-a", None).await.expect("valid"),
            principal
        );
    }
    assert_eq!(fake.with(|s| s.introspections), 1);
    let stats = verifier.stats();
    assert_eq!((stats.introspections, stats.cache_hits), (1, 10));
}

#[actix_web::test]
async fn an_unknown_token_is_refused_and_its_answer_kept_briefly() {
    let fake = Fake::start();
    let verifier = fresh(&fake).await;
    assert_eq!(verifier.verify("nope", None).await, Err(Refusal::Inactive));
    assert_eq!(verifier.verify("nope", None).await, Err(Refusal::Inactive));
    assert_eq!(fake.with(|s| s.introspections), 1);
    assert_eq!(Refusal::Inactive.status(), 401);
}

#[actix_web::test]
async fn a_revocation_in_the_feed_drops_the_cached_answer() {
    let fake = Fake::start();
    fake.add_token("tok-a", 1, "submit_score");
    fake.add_token("tok-b", 2, "submit_score");
    let verifier = fresh(&fake).await;
    verifier.verify("tok-a", None).await.expect("valid");
    verifier.verify("tok-b", None).await.expect("valid");
    assert_eq!(verifier.cached(), 2);

    fake.revoke("tok-a");
    eventually("the feed entry is applied", || verifier.cached() == 1).await;
    assert_eq!(verifier.verify("tok-a", None).await, Err(Refusal::Inactive));
    // tok-b was not touched: still from the cache.
    verifier.verify("tok-b", None).await.expect("valid");
    assert_eq!(fake.with(|s| s.introspections), 3);
    assert_eq!(verifier.stats().revocations, 1);
}

#[actix_web::test]
async fn pages_are_followed_until_the_feed_has_no_more() {
    let fake = Fake::start();
    for n in 0..5 {
        let token = format!("t{n}");
        fake.add_token(&token, 1, "");
        fake.revoke(&token);
    }
    let verifier = fresh(&fake).await;
    // Five entries, two per page: three pages before the view is fresh.
    assert_eq!(verifier.stats().revocations, 5);
    assert!(fake.with(|s| s.feed_requests) >= 3);
}

#[actix_web::test]
async fn entries_lost_to_purging_empty_the_whole_cache() {
    let fake = Fake::start();
    let verifier = holding_tok_a(&fake).await;
    assert_eq!(verifier.cached(), 1);
    fake.with(|s| s.purged_through = 1_000);
    eventually("the cache is emptied", || verifier.cached() == 0).await;
}

#[actix_web::test]
async fn a_stale_view_is_not_used_and_tessera_down_means_503() {
    let fake = Fake::start();
    let verifier = holding_tok_a(&fake).await;

    fake.with(|s| s.feed_mode = Mode::Fail);
    eventually("the view goes stale", || !verifier.is_fresh()).await;
    // Stale: asks Tessera, which still answers introspection.
    verifier.verify("tok-a", None).await.expect("valid");
    assert_eq!(fake.with(|s| s.introspections), 2);
    fake.with(|s| s.introspect_mode = Mode::Fail);
    assert_eq!(
        verifier.verify("tok-a", None).await,
        Err(Refusal::Unavailable)
    );
    assert!(verifier.stats().feed_failures > 0);

    // Back: fresh again, and the cache answers.
    fake.with(|s| {
        s.feed_mode = Mode::Answer;
        s.introspect_mode = Mode::Answer;
    });
    eventually("fresh again", || verifier.is_fresh()).await;
    verifier.verify("tok-a", None).await.expect("valid");
}

#[actix_web::test]
async fn a_stalled_tessera_is_refused_as_unavailable_not_waited_for() {
    let fake = Fake::start();
    let verifier = holding_tok_a(&fake).await;
    fake.with(|s| {
        s.feed_mode = Mode::Stall;
        s.introspect_mode = Mode::Stall;
    });
    eventually("the view goes stale", || !verifier.is_fresh()).await;
    // The request timeout (300 ms) ends the stalled introspection.
    assert_eq!(
        verifier.verify("tok-a", None).await,
        Err(Refusal::Unavailable)
    );
    assert_eq!(Refusal::Unavailable.status(), 503);
}

#[actix_web::test]
async fn the_client_address_is_passed_and_part_of_the_answer() {
    let fake = Fake::start();
    let here: IpAddr = "192.0.2.7".parse().expect("ip");
    fake.add_token("tok-r", 3, "");
    fake.with(|s| s.tokens.get_mut("tok-r").expect("token").only_from = Some(here));
    let verifier = fresh(&fake).await;

    assert_eq!(
        verifier
            .verify("tok-r", Some(here))
            .await
            .expect("valid")
            .user_id,
        3
    );
    assert_eq!(
        fake.with(|s| s.last_client_ip.clone()).as_deref(),
        Some("192.0.2.7")
    );
    // Another address, or none, is another answer, not the cached one.
    assert_eq!(
        verifier
            .verify("tok-r", Some("198.51.100.1".parse().expect("ip")))
            .await,
        Err(Refusal::Inactive)
    );
    assert_eq!(verifier.verify("tok-r", None).await, Err(Refusal::Inactive));
    assert_eq!(fake.with(|s| s.last_client_ip.clone()), None);
    assert_eq!(fake.with(|s| s.introspections), 3);
}

#[actix_web::test]
async fn refused_credentials_are_unavailable_not_a_verdict_on_the_token() {
    let fake = Fake::start();
    fake.add_token("tok-a", 1, "");
    let verifier = Verifier::builder(&fake.url, CLIENT_ID, "wrong-secret")
        .build()
        .expect("verifier builds");
    assert_eq!(
        verifier.verify("tok-a", None).await,
        Err(Refusal::Unavailable)
    );
    assert!(!verifier.is_fresh());
}

#[actix_web::test]
async fn bad_settings_are_refused_with_their_name() {
    let build = |url: &str, id: &str, secret: &str| {
        Verifier::builder(url, id, secret)
            .build()
            .expect_err("refused")
            .to_string()
    };
    assert!(build("ftp://host", "a", "b").contains("ftp://host"));
    assert!(build("http://host", "", "b").contains("client_id"));
    assert!(build("http://host", "a", "").contains("client_secret"));
    let staleness = Verifier::builder("http://host", "a", "b")
        .max_staleness(Duration::from_millis(10))
        .build()
        .expect_err("refused");
    assert!(staleness.to_string().contains("max_staleness"));
}

#[test]
fn building_outside_a_runtime_says_so() {
    let error = Verifier::builder("http://127.0.0.1:1", "a", "b")
        .build()
        .expect_err("no runtime");
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}

#[test]
fn the_secret_is_not_in_debug_output() {
    let builder = Verifier::builder("http://127.0.0.1:1", "a", "super-secret-value");
    assert!(!format!("{builder:?}").contains("super-secret-value"));
}
