//! The README's key table, generated from the keymap: a test checks that
//! the README holds exactly this table, so the two never disagree.

use super::keymap::{self, HELP_ORDER, Scope};

/// Where a scope's keys apply, as the README says it.
fn place(scope: Scope) -> &'static str {
    match scope {
        Scope::Global => "everywhere",
        Scope::Dashboard => "dashboard",
        Scope::Detail => "detail",
        Scope::Approvals => "approvals",
        Scope::History => "history",
        Scope::Insights => "insights",
        Scope::Travel => "time travel",
        Scope::Confirm => "any confirmation",
        Scope::Help => "help",
        Scope::Input => "text input",
    }
}

/// The Markdown table of every binding, in help order.
pub fn markdown_table() -> String {
    let mut out = String::from("| key | where | does |\n| --- | --- | --- |\n");
    for scope in HELP_ORDER {
        for b in keymap::in_scope(*scope) {
            let keys = b
                .keys
                .iter()
                .map(|k| format!("`{}`", keymap::key_label(k)))
                .collect::<Vec<_>>()
                .join(" / ");
            out.push_str(&format!(
                "| {keys} | {} | {} |\n",
                place(*scope),
                b.help.replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    const BEGIN: &str = "<!-- keys: generated from src/console/keymap.rs -->\n";
    const END: &str = "<!-- keys: end -->";

    #[test]
    fn the_readme_key_table_is_the_keymap() {
        let readme = include_str!("../../README.md");
        let start = readme.find(BEGIN).expect("the README marks its key table") + BEGIN.len();
        let len = readme[start..].find(END).expect("the key table ends");
        let want = super::markdown_table();
        assert!(
            readme[start..start + len] == want,
            "the README's key table differs from the keymap; put this between the markers:\n{want}"
        );
    }
}
