//! Where a pack's files come from: a directory on disk or the embedded default.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::Sink;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/default_pack.rs"));
}

/// A pack's files, read into memory (parsing never touches the disk again).
#[derive(Clone, Debug)]
pub struct PackFiles {
    /// How diagnostics name the pack's files (`packs/default` or `embedded:default`).
    pub origin: String,
    /// Relative path (with `/`) → contents.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The subdirectories a pack may have; anything else is ignored with a note.
const DIRS: &[&str] = &["signatures", "policies", "lists", "responses"];

impl PackFiles {
    /// The default pack compiled into this binary.
    pub fn embedded_default() -> PackFiles {
        PackFiles {
            origin: "embedded:default".into(),
            files: embedded::DEFAULT_PACK
                .iter()
                .map(|(n, b)| ((*n).to_owned(), b.to_vec()))
                .collect(),
        }
    }

    /// Reads a pack directory. Unreadable files are reported and skipped.
    pub fn read_dir(dir: &Path, sink: &mut Sink) -> PackFiles {
        let origin = dir.display().to_string();
        let mut files = BTreeMap::new();
        match std::fs::read(dir.join("pack.toml")) {
            Ok(b) => {
                files.insert("pack.toml".to_owned(), b);
            }
            Err(e) => sink.file(
                &format!("{origin}/pack.toml"),
                format!("cannot read the pack manifest: {e}"),
            ),
        }
        for sub in DIRS {
            let d = dir.join(sub);
            let entries = match std::fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    sink.file(
                        &format!("{origin}/{sub}"),
                        format!("cannot list directory: {e}"),
                    );
                    continue;
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.is_file() {
                    continue;
                }
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if name.starts_with('.') || name.ends_with('~') {
                    continue;
                }
                let rel = format!("{sub}/{name}");
                match std::fs::read(&path) {
                    Ok(b) => {
                        files.insert(rel, b);
                    }
                    Err(e) => sink.file(&format!("{origin}/{rel}"), format!("cannot read: {e}")),
                }
            }
        }
        PackFiles { origin, files }
    }

    /// Files under `dir/` with extension `ext`, in name order.
    pub fn in_dir<'a>(
        &'a self,
        dir: &'a str,
        ext: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.files.iter().filter_map(move |(k, v)| {
            let rest = k.strip_prefix(dir)?.strip_prefix('/')?;
            (!rest.contains('/') && rest.ends_with(&format!(".{ext}")))
                .then_some((k.as_str(), v.as_slice()))
        })
    }

    /// Display name of one file.
    pub fn display(&self, rel: &str) -> String {
        format!("{}/{rel}", self.origin)
    }
}
