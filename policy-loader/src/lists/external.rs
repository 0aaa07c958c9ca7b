//! External intel list directories (the gateway's `[intel] lists`): every
//! list file in them loads exactly like a pack's `lists/` file, under its
//! file stem, beside the packs' lists.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use super::{List, ListKind, EXTENSIONS};
use crate::diag::{Loc, Sink};

/// Reads every list file of `dirs` (in name order), reporting unreadable or
/// missing directories, unknown file types and bad lines. Hidden files and
/// editor backups (`~`) are skipped, as in packs; so are subdirectories.
pub(crate) fn read(dirs: &[PathBuf], sink: &mut Sink) -> Vec<(List, Loc)> {
    let mut out = Vec::new();
    for dir in dirs {
        read_dir(dir, sink, &mut out);
    }
    out
}

fn read_dir(dir: &Path, sink: &mut Sink, out: &mut Vec<(List, Loc)>) {
    let origin = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            sink.file(&origin, "intel list directory not found");
            return;
        }
        Err(e) => {
            let why = if dir.is_file() {
                "not a directory: `[intel] lists` names directories of list files".to_owned()
            } else {
                format!("cannot list the intel list directory: {e}")
            };
            sink.file(&origin, why);
            return;
        }
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => files.push(e.path()),
            Err(e) => {
                sink.file(
                    &origin,
                    format!("cannot list the intel list directory: {e}"),
                );
                return;
            }
        }
    }
    files.sort();
    for path in files {
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if file.starts_with('.') || file.ends_with('~') || path.is_dir() {
            continue;
        }
        let name = path.display().to_string();
        let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
        let Some(kind) = ListKind::from_extension(ext) else {
            sink.file(&name, format!("unknown list type: use {EXTENSIONS}"));
            continue;
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                sink.file(&name, format!("cannot read: {e}"));
                continue;
            }
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t,
            Err(e) => {
                sink.file(&name, format!("not UTF-8 text (byte {})", e.valid_up_to()));
                continue;
            }
        };
        let mut list = List::parse(stem, kind, List::EXTERNAL, text, &name, sink);
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        list.content_hash = h.finish();
        out.push((
            list,
            Loc {
                file: name,
                line: 0,
                col: 0,
            },
        ));
    }
}
