//! The README's definitions are the module doc's, word for word.

/// The text of a doc or Markdown passage with its line breaks, comment
/// markers and intra-doc link brackets taken out.
fn words(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("[`", "`")
        .replace("`]", "`")
}

#[test]
fn the_readme_states_every_definition_exactly_as_the_module_doc() {
    let module = include_str!("../mod.rs");
    let doc: Vec<&str> = module
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = doc
        .iter()
        .position(|l| l.starts_with("# Definitions"))
        .expect("the doc has its definitions");
    let definitions = words(&doc[start + 1..].join("\n"));
    let readme = words(include_str!("../../../README.md"));
    assert!(
        readme.contains(&definitions),
        "README.md's \"Definitions, exactly as implemented\" differs from src/insights/mod.rs:\n{definitions}"
    );
}
