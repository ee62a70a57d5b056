//! `pass_env`: the server's environment variables a service's steps get as
//! they are (`KUBECONFIG`, `SSH_AUTH_SOCK`, `AWS_*`). Steps otherwise start
//! from a clean environment; this is the deliberate hole in it, so only the
//! names (or `PREFIX_*` prefixes) configured are passed, and unlike `secrets`
//! their values are not masked in logs.

/// The variables of `vars` that `patterns` name, sorted by name.
pub(crate) fn select(
    patterns: &[String],
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    if patterns.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = vars
        .filter(|(name, _)| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == p,
            })
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes_select_variables() {
        let vars = [
            ("KUBECONFIG", "/k"),
            ("AWS_REGION", "eu"),
            ("AWS_PROFILE", "ci"),
            ("AWSX", "no"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let got = select(
            &["KUBECONFIG".into(), "AWS_*".into()],
            vars.clone().into_iter(),
        );
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["AWS_PROFILE", "AWS_REGION", "KUBECONFIG"]);
        assert!(select(&[], vars.into_iter()).is_empty());
    }
}
