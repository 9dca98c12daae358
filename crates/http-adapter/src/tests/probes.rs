//! The probes: `/healthz`, `/readyz`.

use super::harness::*;

#[actix_web::test]
async fn healthz_is_200() {
    let h = harness().await;

    let reply = h.send(TestRequest::get().uri("/healthz")).await;

    assert_json_ok(&reply, "healthz");
}

#[actix_web::test]
async fn readyz_is_200_when_the_store_answers() {
    let h = harness().await;

    let reply = h.send(TestRequest::get().uri("/readyz")).await;

    assert_json_ok(&reply, "readyz");
}
