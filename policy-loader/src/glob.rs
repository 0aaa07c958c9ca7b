//! Path, host and route-template patterns: `*` within a segment, `**` across
//! segments, `{name}` for one route segment.

/// A compiled glob.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Glob {
    parts: Vec<Part>,
    source: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Lit(Vec<u8>),
    /// Any run of bytes other than the separator.
    Star,
    /// Any run of bytes.
    DoubleStar,
}

impl Glob {
    /// A path glob (`/admin/**`, `/v*/users`), case-sensitive, separator `/`.
    pub fn path(src: &str) -> Glob {
        Glob::build(src, false)
    }

    /// A route template (`/users/{id}/orders`): `{name}` is one segment.
    pub fn route(src: &str) -> Glob {
        Glob::build(src, true)
    }

    fn build(src: &str, route: bool) -> Glob {
        let b = src.as_bytes();
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let flush = |lit: &mut Vec<u8>, parts: &mut Vec<Part>| {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(lit)));
                }
            };
            if b[i] == b'*' {
                flush(&mut lit, &mut parts);
                if b.get(i + 1) == Some(&b'*') {
                    parts.push(Part::DoubleStar);
                    i += 2;
                } else {
                    parts.push(Part::Star);
                    i += 1;
                }
            } else if route && b[i] == b'{' {
                if let Some(end) = b[i..].iter().position(|&c| c == b'}') {
                    flush(&mut lit, &mut parts);
                    parts.push(Part::Star);
                    i += end + 1;
                } else {
                    lit.push(b[i]);
                    i += 1;
                }
            } else {
                lit.push(b[i]);
                i += 1;
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Glob {
            parts,
            source: src.to_owned(),
        }
    }

    /// Its parts (for the gates, which translate globs into one regex set).
    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `s` matches, with `sep` as the segment separator.
    pub fn matches(&self, s: &[u8], sep: u8) -> bool {
        match_parts(&self.parts, s, sep, false)
    }

    /// Whether `s` matches ignoring ASCII case (hosts).
    pub fn matches_caseless(&self, s: &[u8], sep: u8) -> bool {
        match_parts(&self.parts, s, sep, true)
    }
}

fn match_parts(parts: &[Part], s: &[u8], sep: u8, caseless: bool) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return s.is_empty();
    };
    match first {
        Part::Lit(l) => {
            s.len() >= l.len()
                && (if caseless {
                    s[..l.len()].eq_ignore_ascii_case(l)
                } else {
                    &s[..l.len()] == l.as_slice()
                })
                && match_parts(rest, &s[l.len()..], sep, caseless)
        }
        Part::Star => {
            let limit = s.iter().position(|&c| c == sep).unwrap_or(s.len());
            (0..=limit)
                .rev()
                .any(|k| match_parts(rest, &s[k..], sep, caseless))
        }
        // Backtracking is bounded by the few stars operators write; paths are short.
        Part::DoubleStar => (0..=s.len())
            .rev()
            .any(|k| match_parts(rest, &s[k..], sep, caseless)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_globs() {
        let g = Glob::path("/admin/**");
        assert!(g.matches(b"/admin/", b'/'));
        assert!(g.matches(b"/admin/users/1", b'/'));
        assert!(!g.matches(b"/administrator", b'/'));
        let g = Glob::path("/v*/users");
        assert!(g.matches(b"/v1/users", b'/'));
        assert!(!g.matches(b"/v1/x/users", b'/'));
        assert!(Glob::path("/search").matches(b"/search", b'/'));
        assert!(!Glob::path("/search").matches(b"/search/x", b'/'));
    }

    #[test]
    fn routes_and_hosts() {
        let r = Glob::route("/users/{id}/orders");
        assert!(r.matches(b"/users/42/orders", b'/'));
        assert!(!r.matches(b"/users/42/43/orders", b'/'));
        let h = Glob::path("*.internal.example.com");
        assert!(h.matches_caseless(b"API.internal.example.com", b'.'));
        assert!(!h.matches_caseless(b"a.b.internal.example.com", b'.'));
    }
}
