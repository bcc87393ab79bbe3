//! The README's example is the crate docs' first example, which runs as a
//! doctest: this checks that the two say the same, so the README cannot
//! drift from the API. (The crate docs add only hidden lines: the early
//! return of model-checker builds and the final `Ok`.)

/// The first ```` ```rust ```` block of the README.
fn readme_example() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```rust\n")
        .expect("the README has a rust example")
        + "```rust\n".len();
    let len = readme[start..]
        .find("```")
        .expect("the example's block ends");
    readme[start..start + len].to_string()
}

/// The crate docs' first example, hidden lines left out.
fn crate_docs_example() -> String {
    let docs: Vec<&str> = include_str!("../src/lib.rs")
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.strip_prefix("//!").unwrap_or(l))
        })
        .collect();
    let open = docs
        .iter()
        .position(|l| *l == "```")
        .expect("the crate docs have an example");
    let len = docs[open + 1..]
        .iter()
        .position(|l| *l == "```")
        .expect("the example ends");
    docs[open + 1..open + 1 + len]
        .iter()
        .filter(|l| !l.starts_with("# ") && **l != "#")
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_readme_example_is_the_crate_docs_example() {
    let (readme, docs) = (readme_example(), crate_docs_example());
    assert!(readme.contains("Registry"), "not the example: {readme}");
    assert_eq!(
        readme, docs,
        "README.md's example and src/lib.rs's first doctest differ"
    );
}
