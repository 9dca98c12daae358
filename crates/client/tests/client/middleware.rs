//! The actix-web extractor and the tower layer: a valid token reaches the
//! handler with its principal; everything else gets its problem+json.

use std::net::IpAddr;
use std::sync::Arc;

use crate::fake::{Fake, Mode, eventually, fresh};
use actix_web::{App, HttpResponse, test, web};
use tessera_client::{AuthError, Authenticated, Principal, RequireToken};
use tower::{Layer as _, ServiceExt as _};

async fn submit(caller: Authenticated) -> Result<HttpResponse, AuthError> {
    let principal = caller.require("submit_score")?;
    Ok(HttpResponse::Ok().body(principal.user_id.to_string()))
}

#[actix_web::test]
async fn the_actix_extractor_maps_every_outcome() {
    let fake = Fake::start();
    fake.add_token("good", 5, "submit_score");
    fake.add_token("weak", 6, "manage_rivals");
    let verifier = fresh(&fake).await;
    let app = test::init_service(
        App::new()
            .app_data(verifier.clone())
            .route("/", web::post().to(submit)),
    )
    .await;
    let call = |auth: Option<&str>| {
        let mut req = test::TestRequest::post().uri("/");
        if let Some(auth) = auth {
            req = req.insert_header(("Authorization", auth.to_owned()));
        }
        req.to_request()
    };

    let ok = test::call_service(&app, call(Some("Bearer good"))).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(test::read_body(ok).await, "5");

    for (auth, status, detail) in [
        (None, 401, "needs an API token"),
        (Some("Basic Z29vZA=="), 401, "needs an API token"),
        (Some("Bearer unknown"), 401, "not valid"),
        (Some("Bearer weak"), 403, "submit_score"),
    ] {
        let response = test::call_service(&app, call(auth)).await;
        assert_eq!(response.status(), status, "{auth:?}");
        assert_eq!(
            response.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..])
        );
        if status == 401 {
            assert!(response.headers().contains_key("www-authenticate"));
        }
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["status"], status);
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{body}"
        );
    }

    fake.with(|s| {
        s.feed_mode = Mode::Fail;
        s.introspect_mode = Mode::Fail;
    });
    eventually("the view goes stale", || !verifier.is_fresh()).await;
    let down = test::call_service(&app, call(Some("Bearer good"))).await;
    assert_eq!(down.status(), 503);
    assert_eq!(
        down.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
}

#[actix_web::test]
async fn the_extractor_without_a_registered_verifier_is_a_500_not_a_pass() {
    let app = test::init_service(App::new().route("/", web::post().to(submit))).await;
    let response = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/")
            .insert_header(("Authorization", "Bearer good"))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 500);
}

type Request = http::Request<String>;
type Response = http::Response<String>;

/// An inner service that answers with the user id it was handed.
async fn inner(request: Request) -> Result<Response, std::convert::Infallible> {
    let principal = request
        .extensions()
        .get::<Arc<Principal>>()
        .expect("the layer hands the principal on");
    Ok(http::Response::new(principal.user_id.to_string()))
}

fn request(auth: Option<&str>, from: Option<IpAddr>) -> Request {
    let mut builder = http::Request::builder().uri("/");
    if let Some(auth) = auth {
        builder = builder.header("Authorization", auth);
    }
    if let Some(ip) = from {
        builder = builder.extension(ip);
    }
    builder.body(String::new()).expect("request")
}

#[actix_web::test]
async fn the_tower_layer_lets_valid_tokens_through_and_refuses_the_rest() {
    let fake = Fake::start();
    fake.add_token("good", 5, "submit_score");
    fake.add_token("weak", 6, "manage_rivals");
    fake.add_token("here-only", 8, "submit_score");
    let here: IpAddr = "192.0.2.9".parse().expect("ip");
    fake.with(|s| s.tokens.get_mut("here-only").expect("token").only_from = Some(here));
    let verifier = fresh(&fake).await;
    let service = RequireToken::new(verifier)
        .permission("submit_score")
        .client_ip(|extensions, _| extensions.get::<IpAddr>().copied())
        .layer(tower::service_fn(inner));

    let ok = service
        .clone()
        .oneshot(request(Some("Bearer good"), None))
        .await;
    let ok = ok.expect("infallible");
    assert_eq!((ok.status().as_u16(), ok.body().as_str()), (200, "5"));
    let restricted = service
        .clone()
        .oneshot(request(Some("Bearer here-only"), Some(here)))
        .await
        .expect("infallible");
    assert_eq!(restricted.body(), "8");

    for (auth, from, status) in [
        (None, None, 401),
        (Some("Bearer unknown"), None, 401),
        (Some("Bearer weak"), None, 403),
        (Some("Bearer here-only"), None, 401),
    ] {
        let response = service
            .clone()
            .oneshot(request(auth, from))
            .await
            .expect("infallible");
        assert_eq!(response.status().as_u16(), status, "{auth:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_str(response.body()).expect("json");
        assert_eq!(body["status"], status);
    }
}
