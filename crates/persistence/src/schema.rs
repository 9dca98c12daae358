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
    }
}
