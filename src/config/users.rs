//! The `[[users]]` rules: names unique ignoring case and printable, tokens
//! unique, and `authors` that name nobody else and belong to one user. All
//! name comparisons go through `model::same_person`, the comparison the
//! four-eyes check uses.

use crate::config::UserConfig;

use super::error::Result;
use super::schema::RawUser;
use super::walk::At;

pub(super) fn resolve_users(raw: Vec<RawUser>) -> Result<Vec<UserConfig>> {
    use crate::model::same_person;
    for (n, user) in raw.iter().enumerate() {
        let earlier = &raw[..n];
        let name = &user.name;
        if let Some(c) = name.value.chars().find(|c| c.is_control()) {
            return Err(name.fault(
                format!(
                    "the user name {:?} contains the control character {c:?}",
                    name.value
                ),
                "user names are printable text: letters, digits, spaces and punctuation",
            ));
        }
        if let Some(first) = earlier
            .iter()
            .find(|u| same_person(&u.name.value, &name.value))
        {
            let message = if first.name.value == name.value {
                format!("two users are named `{}`", name.value)
            } else {
                format!(
                    "users `{}` and `{}` are one name: names are compared ignoring case",
                    first.name.value, name.value
                )
            };
            return Err(name
                .fault(message, "give each [[users]] entry its own name")
                .first_at(first.name.span.clone()));
        }
        let token = &user.token_sha256;
        if let Some(first) = earlier.iter().find(|u| u.token_sha256.value == token.value) {
            return Err(token
                .fault(
                    format!(
                        "users `{}` and `{}` have the same token",
                        first.name.value, user.name.value
                    ),
                    "every user needs their own token: run `ferry token new` for each",
                )
                .first_at(first.token_sha256.span.clone()));
        }
    }
    check_authors(&raw)?;
    Ok(raw
        .into_iter()
        .map(|u| UserConfig {
            name: u.name.value,
            roles: u.roles.into_iter().map(|r| r.value).collect(),
            token_sha256: u.token_sha256.value,
            authors: u.authors.into_iter().map(|a| a.value).collect(),
        })
        .collect())
}

/// An `authors` entry says "these commits are mine": it may not name another
/// user (bob's commits would count as carol's, and bob could approve his own
/// change), nor be claimed by two users.
fn check_authors(raw: &[RawUser]) -> Result<()> {
    use crate::model::same_person;
    let mut claimed: Vec<(&At<String>, &At<String>)> = Vec::new();
    for user in raw {
        for author in &user.authors {
            if let Some(c) = author.value.chars().find(|c| c.is_control()) {
                return Err(author.fault(
                    format!(
                        "the author {:?} contains the control character {c:?}",
                        author.value
                    ),
                    "authors are git author names or emails, printable text",
                ));
            }
            if let Some(other) = raw.iter().find(|o| {
                o.name.value != user.name.value && same_person(&o.name.value, &author.value)
            }) {
                return Err(author
                    .fault(
                        format!(
                            "user `{}` claims the author `{}`, which is the user `{}`",
                            user.name.value, author.value, other.name.value
                        ),
                        "authors may only name the user's own git names and emails, never another user",
                    )
                    .first_at(other.name.span.clone()));
            }
            if let Some((first_user, first)) = claimed
                .iter()
                .find(|(_, a)| same_person(&a.value, &author.value))
            {
                return Err(author
                    .fault(
                        format!(
                            "the author `{}` is claimed by both `{}` and `{}`",
                            author.value, first_user.value, user.name.value
                        ),
                        "each git author belongs to one user: remove it from one of them",
                    )
                    .first_at(first.span.clone()));
            }
            claimed.push((&user.name, author));
        }
    }
    Ok(())
}
