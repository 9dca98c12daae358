//! Rebuilds the crate when a migration is added or changed: the migrations
//! are embedded in the binary, and Cargo does not notice a new folder by
//! itself (an old binary would then silently skip the new migration).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
