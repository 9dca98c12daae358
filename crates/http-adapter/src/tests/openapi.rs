//! The OpenAPI document describes exactly the routes the app serves.

use super::harness::*;

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as JSON, as `/api/v1/openapi.json` serves it.
fn document() -> Value {
    serde_json::to_value(crate::openapi::openapi_document()).expect("the document serialises")
}

/// Every (METHOD, path template) operation the document describes.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .flat_map(|(path, item)| {
            HTTP_METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// A `$ref` to a component, followed; anything else as it is.
fn resolved<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves"))
        }
        None => value,
    }
}

/// The member names a schema documents, through `$ref` and `allOf`.
fn documented_members(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolved(document, schema);
    let mut members: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        members.extend(documented_members(document, part));
    }
    members
}

/// A concrete URL for a path template.
fn concrete(template: &str) -> String {
    template
        .replace("{userID}", "1")
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let registered: BTreeSet<(String, String)> = crate::route_table()
        .into_iter()
        .filter(|(_, path)| !crate::openapi::NOT_IN_DOCUMENT.contains(path))
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();

    let documented = documented_operations(&document());

    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes the OpenAPI document does not describe: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "documented operations that no route serves: {unregistered:?}"
    );
    assert!(
        registered.contains(&(
            "DELETE".to_owned(),
            "/api/v1/users/{userID}/api-tokens/{token}".to_owned()
        )),
        "the route table lists both DELETE spellings: {registered:?}"
    );
}

#[test]
fn no_path_template_is_registered_twice() {
    // actix answers a path from the first resource matching it, so a
    // second resource with the same template would never be reached.
    let mut seen = BTreeSet::new();
    for path in crate::endpoints()
        .iter()
        .flat_map(|endpoint| endpoint.paths)
    {
        assert!(seen.insert(*path), "{path} is registered twice");
    }
}

#[actix_web::test]
async fn every_documented_operation_is_routed_to_a_handler() {
    let h = harness().await;
    for (method, path) in documented_operations(&document()) {
        // Without credentials or a body: every endpoint answers at once,
        // the revocation feed included (401 before any long poll).
        let req = TestRequest::default()
            .method(method.parse().expect("an HTTP method"))
            .uri(&concrete(&path));

        let reply = h.send_raw(req).await;

        let body = String::from_utf8_lossy(&reply.body);
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        assert!(
            !body.contains("no endpoint at this URL"),
            "{method} {path} is not routed: {body}"
        );
    }
}

#[test]
fn documented_errors_have_the_shape_their_endpoint_answers() {
    let document = document();
    let schemes: BTreeSet<&str> = keys(&document["components"]["securitySchemes"]);
    assert_eq!(
        schemes,
        BTreeSet::from(["bearer", "clientBasic", "session"])
    );
    for (method, path) in documented_operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let context = format!("{method} {path}");
        let expected = if crate::error_format_of(&path) == crate::error::ErrorFormat::OAuth {
            "application/json"
        } else {
            PROBLEM_JSON
        };
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.contains_key("200"),
            "{context}: documents its 200"
        );
        for (status, response) in responses {
            if !status.starts_with(['4', '5']) {
                continue;
            }
            let response = resolved(&document, response);
            assert_eq!(
                keys(&response["content"]),
                BTreeSet::from([expected]),
                "{context} {status}"
            );
        }
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in keys(requirement) {
                assert!(
                    schemes.contains(scheme),
                    "{context}: unknown scheme {scheme}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn openapi_document_is_served_as_json() {
    let h = harness().await;

    let reply = h.send(TestRequest::get().uri("/api/v1/openapi.json")).await;

    assert_json_ok(&reply, "openapi.json");
    let version = reply.json["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "OpenAPI 3.x, not {version:?}");
    assert_eq!(reply.json["info"]["title"], "Tessera");
    let catalogue: Vec<String> = DEFAULT_PERMISSIONS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    assert_eq!(reply.json, crate::openapi::openapi_value(&catalogue));
    // The instance's catalogue is the one its document lists.
    let listed = &reply.json["components"]["schemas"]["CreateClientBody"]["properties"]["permissions"]
        ["items"]["enum"];
    assert_eq!(listed, &serde_json::json!(catalogue));
}

#[actix_web::test]
async fn docs_page_and_its_assets_are_served_from_the_binary() {
    let h = harness().await;
    let get = |uri: &str| TestRequest::get().uri(uri);
    let header_of = |reply: &RawReply, name: header::HeaderName| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    let bare = h.send_raw(get("/docs")).await;
    let page = h.send_raw(get("/docs/")).await;
    let bundle = h.send_raw(get("/docs/swagger-ui-bundle.js")).await;
    let initializer = h.send_raw(get("/docs/swagger-initializer.js")).await;
    let missing = h.send(get("/docs/no-such-asset.js")).await;

    assert_eq!(bare.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header_of(&bare, header::LOCATION), "docs/");
    assert_eq!(page.status, StatusCode::OK);
    assert!(header_of(&page, header::CONTENT_TYPE).starts_with("text/html"));
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(header_of(&bundle, header::CONTENT_TYPE).contains("javascript"));
    assert!(bundle.body.len() > 100_000, "the whole bundle, embedded");
    let script = String::from_utf8_lossy(&initializer.body);
    assert!(script.contains("/api/v1/openapi.json"), "{script}");
    assert!(
        script.contains(r#""validatorUrl": "none""#),
        "no public validator: {script}"
    );
    assert_problem(&missing, StatusCode::NOT_FOUND, "unknown asset");
}

#[actix_web::test]
async fn token_grant_has_exactly_the_documented_members() {
    let h = harness().await;
    let session = h.session(1);
    let client = h
        .send(
            TestRequest::post()
                .uri("/api/v1/clients/create")
                .set_json(json!({
                    "name": "Documented",
                    "permissions": ["submit_score"],
                    "redirectUri": "https://example.com/callback"
                }))
                .with_session(&session),
        )
        .await;
    assert_json_ok(&client, "client created");
    let code = h
        .send(
            TestRequest::post()
                .uri("/api/v1/oauth/create-code")
                .set_json(json!({"clientID": client.json["clientID"]}))
                .with_session(&session),
        )
        .await;
    assert_json_ok(&code, "code created");
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code.json["code"].as_str().unwrap_or_default()),
        (
            "client_id",
            client.json["clientID"].as_str().unwrap_or_default(),
        ),
        (
            "client_secret",
            client.json["clientSecret"].as_str().unwrap_or_default(),
        ),
    ])
    .expect("a form");

    let grant = h
        .send(
            TestRequest::post()
                .uri("/api/v1/oauth/token")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form),
        )
        .await;

    assert_json_ok(&grant, "token grant");
    let document = document();
    let documented = documented_members(
        &document,
        &json!({"$ref": "#/components/schemas/TokenGrant"}),
    );
    let members: BTreeSet<String> = keys(&grant.json).into_iter().map(str::to_owned).collect();
    assert_eq!(members, documented);
    assert_eq!(grant.json["access_token"], grant.json["token"]);
    assert_eq!(grant.json["token_type"], "Bearer");
    assert_eq!(grant.json["scope"], "submit_score");
    assert_eq!(grant.json["identifier"], "Documented Token");
}

/// The document is read by people who have only Tessera: it names no
/// document outside it (a section of an external specification) and no
/// path outside the repository.
#[test]
fn the_document_names_no_document_outside_the_project() {
    let text = document().to_string();
    for outside in ["contract", "../shared"] {
        assert!(
            !text.contains(outside),
            "the OpenAPI document mentions {outside:?}"
        );
    }
    // A section sign belongs to a published standard (`RFC 6749 §5.2`).
    for (at, _) in text.match_indices('§') {
        let before = &text[text.floor_char_boundary(at.saturating_sub(12))..at];
        assert!(
            before.contains("RFC "),
            "a section of no named standard: …{before}§"
        );
    }
}
