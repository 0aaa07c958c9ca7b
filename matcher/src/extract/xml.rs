//! Basic XML scanning: text, attribute values and CDATA as fields; DOCTYPE and ENTITY flagged.

use memchr::{memchr, memchr_iter, memmem};

use super::ExtractError;
use crate::FieldKind;

/// Deepest element nesting [`xml`] accepts. The open elements' names live in
/// a fixed array on the stack (two `usize`s each), so this bounds both the
/// memory and what an attacker can make the scanner track.
pub const XML_MAX_DEPTH: usize = 128;

/// What one successful [`xml`] run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XmlSummary {
    /// Elements opened (self-closing ones included).
    pub elements: usize,
    /// Fields reported (text runs, CDATA sections, attribute values).
    pub texts: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// A `<!DOCTYPE …>` was present. APIs have no use for one, and it is how
    /// external DTDs and entities (XXE) get in: treat it as an indicator.
    pub doctype: bool,
    /// An `<!ENTITY …>` declaration was present: the XXE / entity-expansion
    /// indicator proper.
    pub entity_declaration: bool,
    /// Text runs of one element split by comments, CDATA sections or
    /// processing instructions (`sel<!-- -->ect`): each piece is reported on
    /// its own, so a signature may miss what the backend reassembles.
    pub fragmented_text: usize,
}

/// Reports the text of an XML document as [`FieldKind::XmlText`] fields:
///
/// - each run of character data (name: the enclosing element's name, empty
///   outside the root), trimmed of XML whitespace, skipped if blank;
/// - each CDATA section's content, the same way;
/// - each non-empty attribute value (name: the attribute name), as it is.
///
/// Names are the raw qualified names (`soap:Body`). Entity and character
/// references (`&lt;`, `&#60;`) are left as they are: decoding them is a
/// signature transform. Comments, processing instructions (including the
/// `<?xml …?>` declaration) and `<!DOCTYPE …>` are skipped, the last two
/// flagged in the summary. Element names are matched between start and end
/// tags; attribute syntax is checked; the rest of XML's well-formedness
/// rules (names' characters, duplicate attributes, a single root) are not.
pub fn xml(
    body: &[u8],
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) -> Result<XmlSummary, ExtractError> {
    let mut open = [(0usize, 0usize); XML_MAX_DEPTH];
    let mut depth = 0;
    let mut summary = XmlSummary::default();
    // Whether text was reported since the last tag: a second run before the
    // next tag means the element's text was split.
    let mut in_text = false;
    let mut pos = if body.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    loop {
        let Some(n) = memchr(b'<', &body[pos..]) else {
            let name = element_name(body, &open[..depth]);
            text(&body[pos..], name, &mut summary, &mut in_text, visit);
            break;
        };
        let lt = pos + n;
        let name = element_name(body, &open[..depth]);
        text(&body[pos..lt], name, &mut summary, &mut in_text, visit);
        let rest = &body[lt..];
        if rest.starts_with(b"<!--") {
            pos = skip_past(body, lt + 4, b"-->", lt, "comment")?;
        } else if rest.starts_with(b"<![CDATA[") {
            let end = skip_past(body, lt + 9, b"]]>", lt, "CDATA section")?;
            let name = element_name(body, &open[..depth]);
            text(
                &body[lt + 9..end - 3],
                name,
                &mut summary,
                &mut in_text,
                visit,
            );
            pos = end;
        } else if rest.starts_with(b"<?") {
            pos = skip_past(body, lt + 2, b"?>", lt, "processing instruction")?;
        } else if rest.starts_with(b"<!") {
            let end = declaration_end(body, lt).ok_or(ExtractError::UnterminatedMarkup {
                offset: lt,
                what: "declaration",
            })?;
            let decl = &body[lt..end];
            if decl
                .get(2..9)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"DOCTYPE"))
            {
                summary.doctype = true;
            }
            // Anywhere in it: inside a DOCTYPE's internal subset or on its own.
            if memchr_iter(b'!', decl).any(|bang| {
                decl.get(bang + 1..bang + 7)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"ENTITY"))
            }) {
                summary.entity_declaration = true;
            }
            pos = end;
        } else if rest.starts_with(b"</") {
            let (name, end) = end_tag(body, lt)?;
            if depth == 0 || element_name(body, &open[..depth]) != name {
                return Err(ExtractError::MismatchedTag { offset: lt });
            }
            depth -= 1;
            in_text = false;
            pos = end;
        } else {
            in_text = false;
            let tag = start_tag(body, lt, &mut summary, visit)?;
            if depth == XML_MAX_DEPTH {
                return Err(ExtractError::TooDeep {
                    offset: lt,
                    max: XML_MAX_DEPTH,
                });
            }
            summary.elements += 1;
            summary.max_depth = summary.max_depth.max(depth + 1);
            if !tag.self_closing {
                open[depth] = tag.name;
                depth += 1;
            }
            pos = tag.end;
        }
    }
    if depth > 0 {
        return Err(ExtractError::UnexpectedEnd {
            offset: body.len(),
            expected: "an end tag",
        });
    }
    Ok(summary)
}

/// The innermost open element's name, empty outside the root.
fn element_name<'a>(body: &'a [u8], open: &[(usize, usize)]) -> &'a [u8] {
    match open.last() {
        Some(&(start, end)) => &body[start..end],
        None => &[],
    }
}

/// Reports a text run or CDATA content, trimmed, unless blank.
fn text(
    value: &[u8],
    name: &[u8],
    summary: &mut XmlSummary,
    in_text: &mut bool,
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) {
    let value = trim(value);
    if value.is_empty() {
        return;
    }
    visit(FieldKind::XmlText, name, value);
    summary.texts += 1;
    if *in_text {
        summary.fragmented_text += 1;
    }
    *in_text = true;
}

/// A parsed start tag.
struct StartTag {
    name: (usize, usize),
    self_closing: bool,
    /// Index after its `>`.
    end: usize,
}

/// Parses the start tag at `lt`, reporting its attribute values.
fn start_tag(
    body: &[u8],
    lt: usize,
    summary: &mut XmlSummary,
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) -> Result<StartTag, ExtractError> {
    let unterminated = ExtractError::UnterminatedMarkup {
        offset: lt,
        what: "start tag",
    };
    let name_start = lt + 1;
    let mut i = name_end(body, name_start);
    if i == name_start {
        return Err(unexpected(body, i, "an element name"));
    }
    let name = (name_start, i);
    loop {
        i = skip_ws(body, i);
        match body.get(i) {
            None => return Err(unterminated),
            Some(b'>') => {
                return Ok(StartTag {
                    name,
                    self_closing: false,
                    end: i + 1,
                })
            }
            Some(b'/') => {
                return match body.get(i + 1) {
                    Some(b'>') => Ok(StartTag {
                        name,
                        self_closing: true,
                        end: i + 2,
                    }),
                    Some(&found) => Err(ExtractError::UnexpectedByte {
                        offset: i + 1,
                        found,
                        expected: "'>' after '/'",
                    }),
                    None => Err(unterminated),
                };
            }
            Some(_) => {}
        }
        let attr_start = i;
        while !matches!(
            body.get(i),
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b'=' | b'>' | b'/')
        ) {
            i += 1;
        }
        if i == attr_start {
            return Err(unexpected(body, i, "an attribute name"));
        }
        let attr = &body[attr_start..i];
        i = skip_ws(body, i);
        match body.get(i) {
            Some(b'=') => {}
            Some(_) => return Err(unexpected(body, i, "'=' after an attribute name")),
            None => return Err(unterminated),
        }
        i = skip_ws(body, i + 1);
        let quote = match body.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            Some(_) => return Err(unexpected(body, i, "a quoted attribute value")),
            None => return Err(unterminated),
        };
        let Some(n) = memchr(quote, &body[i + 1..]) else {
            return Err(ExtractError::UnterminatedMarkup {
                offset: i,
                what: "attribute value",
            });
        };
        let value = &body[i + 1..i + 1 + n];
        if !value.is_empty() {
            visit(FieldKind::XmlText, attr, value);
            summary.texts += 1;
        }
        i += n + 2;
    }
}

/// Parses the end tag at `lt`; returns its name and the index after its `>`.
fn end_tag(body: &[u8], lt: usize) -> Result<(&[u8], usize), ExtractError> {
    let name_start = lt + 2;
    let name_end = name_end(body, name_start);
    let i = skip_ws(body, name_end);
    match body.get(i) {
        Some(b'>') => Ok((&body[name_start..name_end], i + 1)),
        Some(&found) => Err(ExtractError::UnexpectedByte {
            offset: i,
            found,
            expected: "'>' ending an end tag",
        }),
        None => Err(ExtractError::UnterminatedMarkup {
            offset: lt,
            what: "end tag",
        }),
    }
}

/// The index after the `<!…>` declaration at `lt`, skipping `>` inside quoted
/// literals, a DOCTYPE's `[…]` internal subset, and comments in it (an
/// apostrophe in a comment must not open a literal).
fn declaration_end(body: &[u8], lt: usize) -> Option<usize> {
    let mut i = lt + 2;
    let mut subset = false;
    loop {
        match *body.get(i)? {
            q @ (b'"' | b'\'') => i += 1 + memchr(q, &body[i + 1..])?,
            b'[' => subset = true,
            b']' => subset = false,
            b'>' if !subset => return Some(i + 1),
            b'<' if subset && body[i..].starts_with(b"<!--") => {
                i += 4 + memmem::find(&body[i + 4..], b"-->")? + 2;
            }
            _ => {}
        }
        i += 1;
    }
}

/// The index after the first `terminator` at or after `from`.
fn skip_past(
    body: &[u8],
    from: usize,
    terminator: &[u8],
    lt: usize,
    what: &'static str,
) -> Result<usize, ExtractError> {
    match memmem::find(&body[from..], terminator) {
        Some(n) => Ok(from + n + terminator.len()),
        None => Err(ExtractError::UnterminatedMarkup { offset: lt, what }),
    }
}

/// The end of a tag name starting at `i` (at `i` if there is none).
fn name_end(body: &[u8], mut i: usize) -> usize {
    while !matches!(
        body.get(i),
        None | Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/' | b'<')
    ) {
        i += 1;
    }
    i
}

fn skip_ws(body: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = body.get(i) {
        i += 1;
    }
    i
}

fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

fn unexpected(body: &[u8], i: usize, expected: &'static str) -> ExtractError {
    match body.get(i) {
        Some(&found) => ExtractError::UnexpectedByte {
            offset: i,
            found,
            expected,
        },
        None => ExtractError::UnexpectedEnd {
            offset: i,
            expected,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::alloc_count::allocations;
    use crate::extract::test_util::{field, fields, recorder, Field, Want};
    use proptest::prelude::*;
    use FieldKind::XmlText as T;

    fn run(body: &str) -> (Vec<Field>, Result<XmlSummary, ExtractError>) {
        let mut out = Vec::new();
        let r = xml(body.as_bytes(), &mut recorder(&mut out));
        (out, r)
    }

    #[test]
    fn documents() {
        let cases: &[(&str, Want<'_>)] = &[
            (
                "<user id=\"7\" role='admin'><name>bob</name><bio> hi &lt;b&gt; </bio></user>",
                &[(T, "id", "7"), (T, "role", "admin"), (T, "name", "bob"), (T, "bio", "hi &lt;b&gt;")],
            ),
            // Text after a child closes belongs to the parent again.
            ("<a>x<b>y</b>z</a>", &[(T, "a", "x"), (T, "b", "y"), (T, "a", "z")]),
            // Indentation is not text; inner whitespace stays.
            (
                "<a>\n  <b>\r\n\t one  two \n</b>\n</a>\n",
                &[(T, "b", "one  two")],
            ),
            // CDATA content, as-is apart from trimming.
            ("<q><![CDATA[ <script>alert(1)</script> ]]></q>", &[(T, "q", "<script>alert(1)</script>")]),
            ("<q><![CDATA[]]></q>", &[]),
            // Comments, processing instructions and the XML declaration are skipped.
            (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a <b>comment</b> --><a><?pi x?>1</a>",
                &[(T, "a", "1")],
            ),
            // Self-closing elements, empty attribute values, whitespace around `=`.
            (
                "<a><b x = \"1\" y=\"\"/><c/>t</a>",
                &[(T, "x", "1"), (T, "a", "t")],
            ),
            // Qualified names, as they are.
            (
                "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>1' OR '1'='1</soap:Body></soap:Envelope>",
                &[
                    (T, "xmlns:soap", "http://schemas.xmlsoap.org/soap/envelope/"),
                    (T, "soap:Body", "1' OR '1'='1"),
                ],
            ),
            // Attribute values keep `>`, the other quote, and references.
            ("<a t='x>\"y&amp;'/>", &[(T, "t", "x>\"y&amp;")]),
            // Text outside any element has the empty name.
            ("hello", &[(T, "", "hello")]),
            ("<a/>tail", &[(T, "", "tail")]),
            ("", &[]),
            // A BOM is not text.
            ("\u{feff}<a>1</a>", &[(T, "a", "1")]),
            // End tags may carry whitespace.
            ("<a>1</a >", &[(T, "a", "1")]),
            // Two roots are tolerated.
            ("<a>1</a><b>2</b>", &[(T, "a", "1"), (T, "b", "2")]),
        ];
        for (body, want) in cases {
            let (got, r) = run(body);
            assert!(r.is_ok(), "{body:?}: {r:?}");
            assert_eq!(got, fields(want), "{body:?}");
        }
    }

    #[test]
    fn summary_counts() {
        let (_, r) = run("<a x='1'><b><c/></b>t</a>");
        assert_eq!(
            r,
            Ok(XmlSummary {
                elements: 3,
                texts: 2,
                max_depth: 3,
                ..XmlSummary::default()
            })
        );
    }

    #[test]
    fn doctype_and_entities_are_flagged() {
        let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [\n  <!-- don't > -->\n  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n  <!ENTITY q '>'>\n]>\n<foo>&xxe;</foo>";
        let (got, r) = run(xxe);
        assert_eq!(got, fields(&[(T, "foo", "&xxe;")]));
        let s = r.expect("parses");
        assert!(s.doctype && s.entity_declaration);

        let (got, r) = run("<!DOCTYPE note SYSTEM \"http://evil.example/x.dtd\"><note>1</note>");
        assert_eq!(got, fields(&[(T, "note", "1")]));
        let s = r.expect("parses");
        assert!(s.doctype && !s.entity_declaration);

        let (_, r) = run("<!doctype a><!entity b 'c'><a/>");
        let s = r.expect("parses");
        assert!(s.doctype && s.entity_declaration);

        let (_, r) = run("<a>&lt;!DOCTYPE x&gt;</a>");
        assert_eq!(r.map(|s| s.doctype || s.entity_declaration), Ok(false));
    }

    #[test]
    fn fragmented_text_is_flagged() {
        let (got, r) = run("<a>sel<!-- x -->ect<![CDATA[ * ]]><?pi?>from</a><b>1<c/>2</b>");
        assert_eq!(
            got,
            fields(&[
                (T, "a", "sel"),
                (T, "a", "ect"),
                (T, "a", "*"),
                (T, "a", "from"),
                (T, "b", "1"),
                (T, "b", "2"),
            ])
        );
        assert_eq!(r.map(|s| s.fragmented_text), Ok(3));
    }

    #[test]
    fn depth_limit() {
        let nest =
            |n: usize, inner: &str| format!("{}{inner}{}", "<e>".repeat(n), "</e>".repeat(n));
        let (got, r) = run(&nest(XML_MAX_DEPTH, "deep"));
        assert_eq!(r.map(|s| s.max_depth), Ok(XML_MAX_DEPTH));
        assert_eq!(got, fields(&[(T, "e", "deep")]));

        let one_more = nest(XML_MAX_DEPTH + 1, "deep");
        assert_eq!(
            run(&one_more).1,
            Err(ExtractError::TooDeep {
                offset: 3 * XML_MAX_DEPTH,
                max: XML_MAX_DEPTH
            })
        );
        // A self-closing element one level too deep, after its attributes were seen.
        let (got, r) = run(&nest(XML_MAX_DEPTH, "<x a='1'/>"));
        assert_eq!(
            r,
            Err(ExtractError::TooDeep {
                offset: 3 * XML_MAX_DEPTH,
                max: XML_MAX_DEPTH
            })
        );
        assert_eq!(got, fields(&[(T, "a", "1")]));
        // Siblings do not add depth.
        let wide = format!("<r>{}</r>", "<e/>".repeat(10 * XML_MAX_DEPTH));
        assert_eq!(run(&wide).1.map(|s| s.max_depth), Ok(2));
    }

    #[test]
    fn errors() {
        use ExtractError::*;
        let unterminated = |offset, what| UnterminatedMarkup { offset, what };
        let cases: &[(&str, ExtractError, Want<'_>)] = &[
            ("<a></b>", MismatchedTag { offset: 3 }, &[]),
            (
                "<a>1</a></a>",
                MismatchedTag { offset: 8 },
                &[(T, "a", "1")],
            ),
            ("</a>", MismatchedTag { offset: 0 }, &[]),
            ("<a><b>1</a>", MismatchedTag { offset: 7 }, &[(T, "b", "1")]),
            // Truncated documents report what they held.
            (
                "<a>text",
                UnexpectedEnd {
                    offset: 7,
                    expected: "an end tag",
                },
                &[(T, "a", "text")],
            ),
            (
                "<a x='1'>",
                UnexpectedEnd {
                    offset: 9,
                    expected: "an end tag",
                },
                &[(T, "x", "1")],
            ),
            ("<a>1<!-- x", unterminated(4, "comment"), &[(T, "a", "1")]),
            ("<a><![CDATA[x]]", unterminated(3, "CDATA section"), &[]),
            ("<?xml x", unterminated(0, "processing instruction"), &[]),
            (
                "<!DOCTYPE a [<!ENTITY b 'c'>",
                unterminated(0, "declaration"),
                &[],
            ),
            ("<!DOCTYPE a \"x>", unterminated(0, "declaration"), &[]),
            ("<!DOCTYPE a [<!-- ]> ", unterminated(0, "declaration"), &[]),
            ("<a x='1' ", unterminated(0, "start tag"), &[(T, "x", "1")]),
            ("<a x", unterminated(0, "start tag"), &[]),
            ("<a x=", unterminated(0, "start tag"), &[]),
            ("<a/", unterminated(0, "start tag"), &[]),
            ("<a x='1>", unterminated(5, "attribute value"), &[]),
            ("<a></a", unterminated(3, "end tag"), &[]),
            // Bad syntax.
            (
                "< a>",
                UnexpectedByte {
                    offset: 1,
                    found: b' ',
                    expected: "an element name",
                },
                &[],
            ),
            (
                "<",
                UnexpectedEnd {
                    offset: 1,
                    expected: "an element name",
                },
                &[],
            ),
            (
                "a<>",
                UnexpectedByte {
                    offset: 2,
                    found: b'>',
                    expected: "an element name",
                },
                &[(T, "", "a")],
            ),
            (
                "<a b>",
                UnexpectedByte {
                    offset: 4,
                    found: b'>',
                    expected: "'=' after an attribute name",
                },
                &[],
            ),
            (
                "<a b=1>",
                UnexpectedByte {
                    offset: 5,
                    found: b'1',
                    expected: "a quoted attribute value",
                },
                &[],
            ),
            (
                "<a ='1'>",
                UnexpectedByte {
                    offset: 3,
                    found: b'=',
                    expected: "an attribute name",
                },
                &[],
            ),
            (
                "<a/x>",
                UnexpectedByte {
                    offset: 3,
                    found: b'x',
                    expected: "'>' after '/'",
                },
                &[],
            ),
            (
                "<a></a x>",
                UnexpectedByte {
                    offset: 7,
                    found: b'x',
                    expected: "'>' ending an end tag",
                },
                &[],
            ),
        ];
        for (body, want_err, want) in cases {
            let (got, r) = run(body);
            assert_eq!(r, Err(*want_err), "{body:?}");
            assert_eq!(got, fields(want), "{body:?}");
        }
    }

    /// An element tree, rendered to XML and flattened into expected fields
    /// independently of the scanner.
    #[derive(Clone, Debug)]
    struct Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    }

    #[derive(Clone, Debug)]
    enum Node {
        Text(String),
        CData(String),
        Comment(String),
        Element(Element),
    }

    fn element() -> impl Strategy<Value = Element> {
        let name = "[a-z][a-z0-9:_-]{0,4}";
        let attrs = prop::collection::vec((name, "[^<&'\"]{0,6}"), 0..3);
        let leaf = (name, attrs.clone()).prop_map(|(name, attrs)| Element {
            name,
            attrs,
            children: vec![],
        });
        leaf.prop_recursive(5, 48, 5, move |inner| {
            let node = prop_oneof![
                "[^<&]{1,8}".prop_map(Node::Text),
                "[^\\]<]{1,8}".prop_map(Node::CData),
                "[a-z <>]{0,6}".prop_map(Node::Comment),
                inner.prop_map(Node::Element),
            ];
            (name, attrs.clone(), prop::collection::vec(node, 0..5)).prop_map(
                |(name, attrs, children)| Element {
                    name,
                    attrs,
                    children,
                },
            )
        })
    }

    fn render(e: &Element, out: &mut String) {
        out.push('<');
        out.push_str(&e.name);
        for (k, v) in &e.attrs {
            out.push_str(&format!(" {k}=\"{v}\""));
        }
        if e.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for c in &e.children {
            match c {
                Node::Text(t) => out.push_str(t),
                Node::CData(t) => out.push_str(&format!("<![CDATA[{t}]]>")),
                Node::Comment(t) => out.push_str(&format!("<!--{t}-->")),
                Node::Element(child) => render(child, out),
            }
        }
        out.push_str(&format!("</{}>", e.name));
    }

    /// Adjacent text and CDATA are separate fields, as the scanner reports them.
    fn expect(e: &Element, out: &mut Vec<Field>) {
        for (k, v) in &e.attrs {
            if !v.is_empty() {
                out.push(field(T, k, v));
            }
        }
        let mut run = String::new();
        let flush = |run: &mut String, out: &mut Vec<Field>| {
            let t = run.trim_matches([' ', '\t', '\r', '\n']);
            if !t.is_empty() {
                out.push(field(T, &e.name, t));
            }
            run.clear();
        };
        for c in &e.children {
            match c {
                Node::Text(t) => run.push_str(t),
                Node::CData(t) => {
                    flush(&mut run, out);
                    run.push_str(t);
                    flush(&mut run, out);
                }
                Node::Comment(_) => flush(&mut run, out),
                Node::Element(child) => {
                    flush(&mut run, out);
                    expect(child, out);
                }
            }
        }
        flush(&mut run, out);
    }

    proptest! {
        #[test]
        fn rendered_trees_report_their_fields(root in element()) {
            let mut doc = String::new();
            render(&root, &mut doc);
            let mut want = Vec::new();
            expect(&root, &mut want);
            let (got, r) = run(&doc);
            prop_assert!(r.is_ok(), "{:?} on {}", r, doc);
            prop_assert_eq!(got, want, "{}", doc);
        }

        #[test]
        fn any_bytes_no_panic_no_alloc(input in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut n = 0usize;
            let (r, allocs) = allocations(|| xml(&input, &mut |_, _, _| n += 1));
            prop_assert_eq!(allocs, 0);
            if let Err(e) = r {
                prop_assert!(e.offset() <= input.len());
            }
        }

        #[test]
        fn xml_like_bytes_no_panic_no_alloc(pieces in prop::collection::vec(
            prop::sample::select(vec![
                "<", ">", "/", "</", "/>", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>",
                "<!DOCTYPE", "<!ENTITY", "[", "]", "a", "b", "=", "'", "\"", " ", "\n", "&lt;",
            ]),
            0..64,
        )) {
            let input = pieces.concat();
            let mut n = 0usize;
            let (r, allocs) = allocations(|| xml(input.as_bytes(), &mut |_, _, _| n += 1));
            prop_assert_eq!(allocs, 0);
            if let Err(e) = r {
                prop_assert!(e.offset() <= input.len());
            }
        }
    }
}
