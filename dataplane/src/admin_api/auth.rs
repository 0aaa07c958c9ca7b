//! Bearer tokens for the admin API's change endpoints, from `[admin]
//! token_file`: one token per line, optionally preceded by a name
//! (`alice 3f9c…`) that the audit log records as who made a change;
//! blank lines and `#` comments are skipped. Tokens are kept as SHA-256
//! digests and compared in constant time.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Shortest token accepted: a guessable token on an admin port is a hole.
pub const MIN_TOKEN: usize = 16;

/// The configured tokens (none: changes are off).
#[derive(Default)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

fn hex8(d: &[u8; 32]) -> String {
    d[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    /// Reads a token file; every problem names the file and line.
    pub fn read(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read admin token file {}: {e}", path.display()))?;
        Tokens::parse(&text, &path.display().to_string())
    }

    /// Parses a token file's text.
    pub fn parse(text: &str, file: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, token) = match words.as_slice() {
                [t] => (None, *t),
                [n, t] => (Some(*n), *t),
                _ => {
                    return Err(format!(
                        "{file}:{}: a token line is `TOKEN` or `NAME TOKEN`",
                        i + 1
                    ))
                }
            };
            if token.len() < MIN_TOKEN {
                return Err(format!(
                    "{file}:{}: a token needs at least {MIN_TOKEN} characters",
                    i + 1
                ));
            }
            let d = digest(token.as_bytes());
            let name = name.map_or_else(|| format!("token-{}", hex8(&d)), str::to_owned);
            entries.push((name, d));
        }
        if entries.is_empty() {
            return Err(format!("{file}: no token in the admin token file"));
        }
        Ok(Tokens { entries })
    }

    /// Whether any token is configured.
    pub fn configured(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The name of the token in an `Authorization: Bearer …` value, if it
    /// is one of ours. Compares every configured digest in full, so the
    /// time taken does not depend on how much of a token was right.
    pub fn check(&self, authorization: Option<&str>) -> Option<&str> {
        let presented = authorization?.strip_prefix("Bearer ")?.trim();
        let d = digest(presented.as_bytes());
        let mut found = None;
        for (name, want) in &self.entries {
            let diff = want
                .iter()
                .zip(d.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_unnamed_tokens() {
        let t = Tokens::parse(
            "# ops\nalice aaaaaaaaaaaaaaaaaaaa\n\nbbbbbbbbbbbbbbbbbbbb\n",
            "t",
        )
        .unwrap();
        assert_eq!(t.check(Some("Bearer aaaaaaaaaaaaaaaaaaaa")), Some("alice"));
        assert!(t
            .check(Some("Bearer bbbbbbbbbbbbbbbbbbbb"))
            .unwrap()
            .starts_with("token-"));
        assert_eq!(t.check(Some("Bearer aaaaaaaaaaaaaaaaaaab")), None);
        assert_eq!(t.check(Some("Basic aaaaaaaaaaaaaaaaaaaa")), None);
        assert_eq!(t.check(None), None);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        assert_eq!(
            Tokens::parse("short\n", "f").err().unwrap(),
            "f:1: a token needs at least 16 characters"
        );
        assert!(Tokens::parse("a b c\n", "f")
            .err()
            .unwrap()
            .starts_with("f:1:"));
        assert!(Tokens::parse("# nothing\n", "f").is_err());
    }
}
