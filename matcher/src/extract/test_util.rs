//! Test helpers: reported fields collected as owned, printable triples.

use crate::FieldKind;

/// One reported field, bytes shown as (lossy) UTF-8 so table tests read naturally.
pub(crate) type Field = (FieldKind, String, String);

/// Expected fields in a table test.
pub(crate) type Want<'a> = &'a [(FieldKind, &'a str, &'a str)];

/// Expected fields as reported ones.
pub(crate) fn fields(want: Want<'_>) -> Vec<Field> {
    want.iter().map(|(k, n, v)| field(*k, n, v)).collect()
}

/// A field triple from string literals.
pub(crate) fn field(kind: FieldKind, name: &str, value: &str) -> Field {
    (kind, name.to_owned(), value.to_owned())
}

/// A visitor that appends every reported field to `out`.
pub(crate) fn recorder(out: &mut Vec<Field>) -> impl FnMut(FieldKind, &[u8], &[u8]) + '_ {
    move |kind, name, value| {
        out.push((
            kind,
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ))
    }
}
