//! The project's documentation stands on its own: every relative link in
//! the README and `docs/` leads to a file of the repository, and none leads
//! out of it.

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            found.push(path);
        }
    }
    found
}

/// The targets of the inline Markdown links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| rest[..end].trim())
        })
        .collect()
}

#[test]
fn every_relative_link_in_the_documentation_resolves_inside_the_repository() {
    let root = repository();
    let mut checked = 0;
    for document in documents(&root) {
        let text = std::fs::read_to_string(&document).expect("a readable document");
        for target in link_targets(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
                || target.starts_with('#')
            {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            let resolved = document
                .parent()
                .expect("a folder")
                .join(file)
                .canonicalize()
                .unwrap_or_else(|_| {
                    panic!("{}: link to {target} leads nowhere", document.display())
                });
            assert!(
                resolved.starts_with(&root),
                "{}: link to {target} leaves the repository",
                document.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "only {checked} relative links found: is the parser right?"
    );
}

#[test]
fn the_link_reader_finds_inline_links() {
    assert_eq!(
        link_targets("see [a](docs/a.md) and [b]( ../b.md#x ) but not [c] (d)"),
        ["docs/a.md", "../b.md#x"]
    );
}
