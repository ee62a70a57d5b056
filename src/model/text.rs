//! Text from outside the process, made safe to show in a terminal.

/// The short form of a commit sha (or a digest) people read: its first 7
/// characters (after a digest's `sha256:`), cut on a character boundary.
pub fn short_sha(commit: &str) -> &str {
    let commit = super::digest_hex(commit);
    match commit.char_indices().nth(7) {
        Some((end, _)) => &commit[..end],
        None => commit,
    }
}

/// Strip terminal control sequences and other control characters from text
/// that came from outside (step output, commit subjects, names), so that it
/// cannot move the cursor, change colours or retitle a terminal.
pub fn sanitize_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: ESC [ params... final byte in 0x40..=0x7e
                Some('[') => {
                    chars.next();
                    for n in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC / DCS / APC / PM / SOS: until BEL or ESC \
                Some(']') | Some('P') | Some('_') | Some('^') | Some('X') => {
                    chars.next();
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => out.push_str("    "),
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => {}
            // C1 controls are covered by is_control; bidi overrides are not.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_escape_sequences_and_controls() {
        assert_eq!(sanitize_text("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(sanitize_text("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(sanitize_text("x\u{8}\u{0}y"), "xy");
        assert_eq!(sanitize_text("tab\there"), "tab    here");
        assert_eq!(sanitize_text("\u{202e}evil"), "evil");
        assert_eq!(sanitize_text("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    #[test]
    fn short_sha_is_seven_characters_at_most() {
        assert_eq!(short_sha("c0ffee1234"), "c0ffee1");
        assert_eq!(short_sha("abc"), "abc");
        assert_eq!(short_sha("ünïcödé✓✓"), "ünïcödé");
    }
}
