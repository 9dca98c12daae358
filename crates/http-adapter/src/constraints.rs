//! The rules the handlers enforce, written into the OpenAPI document, so
//! that a client (or a fuzzer) generating "valid" data from the document
//! generates data the service accepts, and everything else is refused. The
//! patterns mirror the validators (`has_control`, `Identifier::parse`, the
//! client checks); `tests::patterns_agree_with_the_validators` holds the
//! two together. Applied to the document utoipa derives from the code,
//! because some rules (exactly one of two members, both or neither) are
//! shapes utoipa's derives do not express.

use serde_json::{Value, json};

/// Unicode `Cc`, which no string the service reads may hold.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// The whitespace that names and identifiers lose at their ends (Unicode
/// `White_Space` but the control characters, which are refused outright).
const EDGE_SPACE: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// No control character.
pub fn text() -> String {
    format!("^[^{CONTROL}]*$")
}

/// `min..=max` characters once trimmed, no control character.
fn trimmed(min: usize, max: usize) -> String {
    let inner = format!("[^{CONTROL}]");
    let solid = format!("[^{EDGE_SPACE}{CONTROL}]");
    let core = if min <= 1 {
        format!("{solid}(?:{inner}{{0,{}}}{solid})?", max - 2)
    } else {
        format!("{solid}{inner}{{{},{}}}{solid}", min - 2, max - 2)
    };
    format!("^[{EDGE_SPACE}]*{core}[{EDGE_SPACE}]*$")
}

/// An absolute `http`/`https` URL of a named host (labels starting with a
/// letter: nothing a URL parser would read as an IPv4 address), an optional
/// port, path and query.
pub const URL: &str = r"^https?://[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(:[0-9]{1,4})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$";

/// A file name from the portable set, not hidden.
pub const FILE_NAME: &str = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$";

/// A positive decimal below 2^63 without leading zeros, or `me`.
pub const USER_ID: &str = concat!(
    r"^(me|[1-9][0-9]{0,17}|[1-8][0-9]{18}|9[01][0-9]{17}|92[01][0-9]{16}",
    r"|922[0-2][0-9]{15}|9223[0-2][0-9]{14}|92233[0-6][0-9]{13}|922337[01][0-9]{12}",
    r"|92233720[0-2][0-9]{10}|922337203[0-5][0-9]{9}|9223372036[0-7][0-9]{8}",
    r"|92233720368[0-4][0-9]{7}|922337203685[0-3][0-9]{6}|9223372036854[0-6][0-9]{5}",
    r"|92233720368547[0-6][0-9]{4}|922337203685477[0-4][0-9]{3}|9223372036854775[0-7][0-9]{2}",
    r"|92233720368547758[0-9]|922337203685477580[0-7])$"
);

/// An IPv4 address in the dotted form Rust parses (no leading zeros).
const IPV4: &str = r"((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
/// An IPv6 address in any of its compressed forms (RFC 4291 §2.2, without
/// an embedded IPv4 part).
const IPV6: &str = concat!(
    r"(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
    r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
    r"|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
    r"|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
    r"|:((:[0-9a-fA-F]{1,4}){1,7}|:))"
);

/// An `allowedIps` entry: an address or a network, IPv4 or IPv6.
fn network() -> String {
    format!("^({IPV4}(/(3[0-2]|[12]?[0-9]))?|{IPV6}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$")
}

/// `apiKeyTemplate`: the placeholder somewhere, no control character.
fn template() -> String {
    format!("^[^{CONTROL}]*%%(TOKEN|TACHI_KEY)%%[^{CONTROL}]*$")
}

fn string(pattern: &str) -> Value {
    json!({"type": "string", "pattern": pattern})
}

fn nullable(mut schema: Value) -> Value {
    schema["type"] = json!(["string", "null"]);
    schema
}

/// Sets `schema.properties[name]`, keeping its description.
fn set_property(schema: &mut Value, name: &str, mut new: Value) {
    let property = &mut schema["properties"][name];
    if let Some(description) = property.get("description").cloned() {
        new["description"] = description;
    }
    *property = new;
}

/// Writes every rule into `document`; `catalogue` is the permission names
/// this instance accepts.
pub fn apply(document: &mut Value, catalogue: &[String]) {
    let permission = json!({"type": "string", "enum": catalogue});
    let schemas = &mut document["components"]["schemas"];

    // Exactly one of `permissions` (with `identifier`) and `clientID`.
    let token = &mut schemas["CreateTokenBody"];
    let describe = |schema: &Value, name: &str| schema["properties"][name]["description"].clone();
    let expires = json!({
        "type": ["integer", "null"], "format": "int64", "maximum": 253_402_300_799_999_i64,
        "description": describe(token, "expiresAt"),
    });
    let by_permissions = json!({
        "type": "object",
        "title": "From permissions",
        "required": ["permissions", "identifier"],
        "properties": {
            "permissions": {"type": "array", "items": permission, "description": describe(token, "permissions")},
            "identifier": {"type": "string", "pattern": trimmed(1, 120), "description": describe(token, "identifier")},
            "clientID": {"type": "null"},
            "expiresAt": expires,
        },
        "additionalProperties": false,
    });
    let by_client = json!({
        "type": "object",
        "title": "From an OAuth2 client",
        "required": ["clientID"],
        "properties": {
            "clientID": {"type": "string", "minLength": 1, "pattern": text(), "description": describe(token, "clientID")},
            "identifier": {"type": ["string", "null"], "pattern": text(), "description": "Ignored with `clientID`."},
            "permissions": {"type": "null"},
            "expiresAt": expires,
        },
        "additionalProperties": false,
    });
    let description = token["description"].clone();
    let example = token["example"].clone();
    *token = json!({
        "description": description,
        "example": example,
        "oneOf": [by_permissions, by_client],
    });

    // A token's changes and its rotation.
    let expiry = |schema: &Value, nullable: bool| {
        json!({
            "type": if nullable { json!(["integer", "null"]) } else { json!("integer") },
            "format": "int64", "maximum": 253_402_300_799_999_i64,
            "description": describe(schema, "expiresAt"),
        })
    };
    let patch = &mut schemas["PatchTokenBody"];
    let changed_expiry = expiry(patch, true);
    set_property(patch, "identifier", nullable(string(&trimmed(1, 120))));
    set_property(patch, "expiresAt", changed_expiry);
    set_property(
        patch,
        "allowedIps",
        json!({
            "type": ["array", "null"], "minItems": 1,
            "maxItems": tessera_domain::MAX_ALLOWED_NETWORKS,
            "items": {"type": "string", "pattern": network()},
        }),
    );
    patch["additionalProperties"] = json!(false);
    let rotate = &mut schemas["RotateBody"];
    let successor_expiry = expiry(rotate, true);
    set_property(rotate, "expiresAt", successor_expiry);
    rotate["additionalProperties"] = json!(false);

    let client = &mut schemas["CreateClientBody"];
    set_property(client, "name", string(&trimmed(3, 80)));
    set_property(
        client,
        "permissions",
        json!({"type": "array", "items": permission, "minItems": 1}),
    );
    for (schema_name, required) in [("CreateClientBody", true), ("PatchClientBody", false)] {
        let schema = &mut schemas[schema_name];
        if !required {
            set_property(schema, "name", string(&trimmed(3, 80)));
        }
        for url in ["redirectUri", "webhookUri"] {
            set_property(
                schema,
                url,
                nullable(json!({"pattern": URL, "maxLength": 2048})),
            );
        }
        set_property(
            schema,
            "apiKeyTemplate",
            nullable(json!({"pattern": template(), "maxLength": 4096})),
        );
        set_property(
            schema,
            "apiKeyFilename",
            nullable(json!({"pattern": FILE_NAME})),
        );
    }

    // PKCE: a challenge and its method, or neither.
    let code = &mut schemas["CreateCodeBody"];
    let client_id = json!({"type": "string", "minLength": 1, "pattern": text()});
    let plain = json!({
        "type": "object", "title": "Without PKCE", "required": ["clientID"],
        "properties": {
            "clientID": client_id,
            "codeChallenge": {"type": "null"},
            "codeChallengeMethod": {"type": "null"},
        },
        "additionalProperties": false,
    });
    let pkce = json!({
        "type": "object", "title": "With PKCE (S256)",
        "required": ["clientID", "codeChallenge", "codeChallengeMethod"],
        "properties": {
            "clientID": client_id,
            "codeChallenge": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$",
                "description": describe(code, "codeChallenge")},
            "codeChallengeMethod": {"type": "string", "enum": ["S256"]},
        },
        "additionalProperties": false,
    });
    let example = code["example"].clone();
    *code = json!({"example": example, "oneOf": [plain, pkce]});

    set_property(
        &mut schemas["StatusBody"],
        "echo",
        nullable(json!({"pattern": text()})),
    );

    // OAuth parameters: no control character (RFC 7009's `token` may hold
    // anything), no empty value (an empty parameter is an omitted one).
    for (schema_name, free) in [
        ("TokenParams", None),
        ("RevokeParams", Some("token")),
        ("IntrospectParams", None),
    ] {
        let schema = &mut schemas[schema_name];
        let names: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
        for name in names {
            let property = &mut schema["properties"][&name];
            // An empty optional parameter is an omitted one; an empty
            // required one is missing.
            if required.contains(&json!(name)) {
                property["minLength"] = json!(1);
            }
            if Some(name.as_str()) != free {
                property["pattern"] = json!(text());
            }
        }
        // Other parameters are ignored, but each is one string.
        schema["additionalProperties"] = json!({"type": "string", "pattern": text()});
        schema["propertyNames"] = json!({"pattern": text()});
    }
    schemas["TokenParams"]["properties"]["grant_type"]["enum"] = json!(["authorization_code"]);
    schemas["TokenParams"]["properties"]["code_verifier"]["pattern"] =
        json!("^[A-Za-z0-9._~-]{43,128}$");

    for path in document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
    {
        for operation in path
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let parameters = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                match parameter["name"].as_str() {
                    Some("userID") => parameter["schema"]["pattern"] = json!(USER_ID),
                    Some("echo") => parameter["schema"]["pattern"] = json!(text()),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_domain::{ApiKeyTemplate, ClientName, FileName, HttpUrl};
    use tessera_domain::{Identifier, UserId};

    fn re(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("a valid pattern")
    }

    /// Each sample is accepted by the pattern exactly when the validator
    /// accepts it.
    fn agree(pattern: &str, validator: impl Fn(&str) -> bool, samples: &[&str]) {
        let re = re(pattern);
        for sample in samples {
            assert_eq!(
                re.is_match(sample),
                validator(sample),
                "{pattern} and the validator disagree on {sample:?}"
            );
        }
    }

    #[test]
    fn patterns_agree_with_the_validators() {
        let long = "x".repeat(121);
        let longest = "x".repeat(120);
        agree(
            &trimmed(1, 120),
            |s| Identifier::parse(s).is_ok() && !crate::body::has_control(s),
            &[
                "a",
                " a ",
                "My token",
                "   ",
                "",
                "a\u{7}b",
                &long,
                &longest,
                "\u{a0}x\u{3000}",
                "x\u{85}",
            ],
        );
        let name_long = "n".repeat(81);
        agree(
            &trimmed(3, 80),
            |s| ClientName::parse(s).is_ok() && !crate::body::has_control(s),
            &[
                "abc",
                "ab",
                " abc ",
                "a b",
                "   ",
                &name_long,
                "abc\u{1}",
                "My Client",
            ],
        );
        agree(
            USER_ID,
            |s| s == "me" || UserId::parse(s).is_ok(),
            &[
                "me",
                "1",
                "0",
                "01",
                "-1",
                "9223372036854775807",
                "9223372036854775808",
                "18446744073709551616",
                "x",
            ],
        );
        agree(
            URL,
            |s| HttpUrl::parse("u", s).is_ok(),
            &[
                "https://example.com/cb?x=1",
                "http://localhost:8080/cb",
                "ftp://x",
                "https://",
                "https://1.2.3.4.5/",
                "http://a-b.c/%zz",
                "https://exa mple.com",
            ],
        );
        agree(
            FILE_NAME,
            |s| FileName::parse(s).is_ok(),
            &[
                "key.txt",
                "tessera.env",
                ".env",
                "..",
                ".",
                "a/b",
                "a\\b",
                "",
                "k\u{7}",
            ],
        );
        agree(
            &template(),
            |s| ApiKeyTemplate::parse(s).is_ok() && !crate::body::has_control(s),
            &[
                "KEY=%%TOKEN%%",
                "KEY=",
                "%%TOKEN%%\u{0}",
                "a %%TOKEN%% b",
                "KEY=%%TACHI_KEY%%",
                "KEY=%%TACHI%%",
            ],
        );
        agree(
            &text(),
            |s| !crate::body::has_control(s),
            &["plain", "tab\there", "nul\u{0}", "é"],
        );
        agree(
            &network(),
            |s| tessera_domain::AllowedIps::parse(&[s]).is_ok(),
            &[
                "10.0.0.1",
                "10.0.0.0/8",
                "10.1.2.3/32",
                "255.255.255.255/0",
                "10.0.0.0/33",
                "010.0.0.1",
                "10.0.0",
                "10.0.0.0/08",
                "10.0.0.0/+8",
                "10.0.0.0/",
                "D::06/0105",
                "D::06/105",
                "247.164.245.109/022",
                "::8D1B:cccA:C",
                "::1",
                "::",
                "2001:db8::/32",
                "2001:db8::1/128",
                "2001:db8::/129",
                "fe80::1:2:3:4",
                "1:2:3:4:5:6:7:8",
                "1:2:3:4:5:6:7:8:9",
                ":::1",
                "example.com",
                "",
                " 10.0.0.1",
            ],
        );
    }
}
