//! Diesel's view of the tables. Written by hand rather than by
//! `diesel print-schema`: SQLite's `INTEGER PRIMARY KEY` would print as
//! `Integer`, while both backends hold 64-bit ids (`BigInt`).

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        identifier -> Text,
        token_hash -> Binary,
        token_sealed -> Binary,
        permissions -> Text,
        from_api_client -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        public_id -> Text,
        disabled -> Bool,
        allowed_ips -> Nullable<Text>,
        canary -> Bool,
        superseded_by -> Nullable<Text>,
        superseded_until -> Nullable<BigInt>,
        last_used_by -> Nullable<Text>,
        last_used_ips -> Nullable<Text>,
        owner_suspended -> Bool,
        expiry_warned -> Bool,
    }
}

diesel::table! {
    suspended_users (user_id) {
        user_id -> BigInt,
        reason -> Nullable<Text>,
        suspended_at -> BigInt,
    }
}

diesel::table! {
    oauth_clients (client_id) {
        client_id -> Text,
        author -> BigInt,
        name -> Text,
        permissions -> Text,
        redirect_uri -> Nullable<Text>,
        webhook_uri -> Nullable<Text>,
        api_key_template -> Nullable<Text>,
        api_key_filename -> Nullable<Text>,
        secret_hash -> Binary,
        secret_sealed -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    oauth_client_quota (user_id) {
        user_id -> BigInt,
        used -> BigInt,
    }
}

diesel::table! {
    oauth_codes (code_hash) {
        code_hash -> Binary,
        user_id -> BigInt,
        client_id -> Text,
        code_challenge -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        token_hash -> Nullable<Binary>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(api_tokens, oauth_clients, oauth_codes);

diesel::table! {
    token_revocations (id) {
        id -> BigInt,
        token_hash -> Binary,
        revoked_at -> BigInt,
    }
}

diesel::table! {
    token_revocation_purges (id) {
        id -> SmallInt,
        purged_through -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (user_id, scope, idem_key) {
        user_id -> BigInt,
        scope -> Text,
        idem_key -> Text,
        fingerprint -> Binary,
        claim -> BigInt,
        created_at -> BigInt,
        claimed_at -> BigInt,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (user_id, seq) {
        user_id -> BigInt,
        seq -> BigInt,
        at -> BigInt,
        event_type -> Text,
        event -> Text,
    }
}

diesel::table! {
    audit_heads (user_id) {
        user_id -> BigInt,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        receiver -> Text,
        user_id -> BigInt,
        seq -> BigInt,
        event -> Text,
        state -> Text,
        tries -> Integer,
        due_at -> BigInt,
        created_at -> BigInt,
        last_error -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(audit_events, audit_heads);
