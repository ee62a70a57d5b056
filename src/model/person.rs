//! Who is who: the one comparison of people's names. User names, git author
//! names and the names in approvals all meet here, so that the four-eyes
//! rule and the config's uniqueness checks can never disagree.

/// The form two names are compared in: trimmed, Unicode-lowercased.
pub fn person_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Whether two names (user names, git authors, actors) are one person.
pub fn same_person(a: &str, b: &str) -> bool {
    person_key(a) == person_key(b)
}

#[cfg(test)]
mod tests {
    use super::same_person;

    #[test]
    fn names_compare_case_insensitively_and_trimmed() {
        assert!(same_person("alice", "Alice"));
        assert!(same_person(" ÉLODIE ", "élodie"));
        assert!(!same_person("alice", "alicia"));
    }
}
