//! On-disk cache of compiled databases, keyed by a hash of the signature set,
//! so a restart or reload of an unchanged pack skips Hyperscan compilation.
//!
//! A cache file that is missing, stale, corrupt, written by another Hyperscan
//! build or unreadable is never an error: the set is compiled and the problem
//! is reported as a warning. Writes go to a temporary file renamed into place,
//! so a full disk or a crash leaves no half-written cache behind.

use std::ffi::CStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::compile::{merge_classes, plan, Analysis, GroupDbs};
use crate::engine::{Database, Mode};
use crate::error::CompileErrors;
use crate::signature::{Pattern, Signature};
use crate::Matcher;

const MAGIC: &[u8; 8] = b"RMPTHS05";

/// Outcome of [`Matcher::compile_cached`] besides the matcher.
#[derive(Debug, Clone, Default)]
pub struct CacheOutcome {
    /// The cache file used or written.
    pub path: PathBuf,
    /// Why the cache could not be read or written, if it could not.
    pub warning: Option<String>,
}

/// The cache key: everything that changes the compiled result.
fn key(sigs: &[Signature]) -> [u8; 32] {
    let mut h = Sha256::new();
    let field = |h: &mut Sha256, b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(&mut h, MAGIC);
    field(&mut h, env!("CARGO_PKG_VERSION").as_bytes());
    // SAFETY: hs_version returns a pointer to a static NUL-terminated string.
    let hs = unsafe { CStr::from_ptr(hyperscan_sys::hs_version()) };
    field(&mut h, hs.to_bytes());
    for s in sigs {
        field(&mut h, s.id.as_bytes());
        match &s.pattern {
            Pattern::Regex(r) => {
                h.update([0]);
                field(&mut h, r.as_bytes());
            }
            Pattern::Literal(l) => {
                h.update([1]);
                field(&mut h, l);
            }
            Pattern::Literals(list) => {
                h.update([2]);
                h.update((list.len() as u64).to_le_bytes());
                for l in list {
                    field(&mut h, l);
                }
            }
        }
        let f = s.flags;
        h.update([
            f.caseless as u8,
            f.dotall as u8,
            f.multiline as u8,
            f.utf8 as u8,
            f.single_match as u8,
            f.start_of_match as u8,
        ]);
        h.update((s.targets.len() as u64).to_le_bytes());
        for t in &s.targets {
            h.update([t.kind as u8]);
            match &t.name {
                Some(n) => field(&mut h, n.as_bytes()),
                None => h.update([0xff]),
            }
        }
        field(
            &mut h,
            &s.transforms.iter().map(|t| *t as u8).collect::<Vec<_>>(),
        );
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn db(&mut self, db: Option<&Database>) -> Result<(), String> {
        match db {
            None => self.0.push(0),
            Some(db) => {
                let bytes = db.serialize().map_err(|e| e.to_string())?;
                self.0.push(1);
                self.0
                    .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                self.0.extend_from_slice(&bytes);
            }
        }
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn db(&mut self, mode: Mode) -> Result<Option<Database>, String> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => {
                let len = self.take(8)?;
                let mut l = [0u8; 8];
                l.copy_from_slice(len);
                let len =
                    usize::try_from(u64::from_le_bytes(l)).map_err(|_| "bad length".to_string())?;
                let bytes = self.take(len)?;
                Database::deserialize(bytes, mode)
                    .map(Some)
                    .map_err(|e| e.to_string())
            }
            _ => Err("bad database tag".into()),
        }
    }
}

impl Matcher {
    /// Like [`Matcher::compile`], reusing `dir/matcher-<hash>.hsdb` when the
    /// signature set is unchanged and writing it otherwise.
    pub fn compile_cached(
        sigs: &[Signature],
        dir: &Path,
    ) -> Result<(Matcher, CacheOutcome), CompileErrors> {
        let started = Instant::now();
        let key = key(sigs);
        let path = dir.join(format!("matcher-{}.hsdb", &hex(&key)[..32]));
        let mut outcome = CacheOutcome {
            path: path.clone(),
            warning: None,
        };
        // Folded once for both the cache and a compile (the key is of the
        // signatures as given).
        let folded = crate::fold_case::fold_trailing_lowercase(sigs);
        match std::fs::read(&path) {
            Ok(bytes) => match load(&folded, &key, &bytes, started) {
                Ok(m) => return Ok((m, outcome)),
                Err(e) => outcome.warning = Some(format!("ignoring cache {}: {e}", path.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => outcome.warning = Some(format!("cannot read cache {}: {e}", path.display())),
        }
        let matcher = Matcher::compile_folded(&folded)?;
        if let Err(e) = store(&matcher, &key, dir, &path) {
            let w = format!("cannot write cache {}: {e}", path.display());
            outcome.warning = Some(match outcome.warning.take() {
                Some(prev) => format!("{prev}; {w}"),
                None => w,
            });
        }
        Ok((matcher, outcome))
    }
}

fn store(m: &Matcher, key: &[u8; 32], dir: &Path, path: &Path) -> Result<(), String> {
    let c = &m.inner;
    let mut w = Writer(Vec::new());
    w.0.extend_from_slice(MAGIC);
    w.0.extend_from_slice(key);
    w.u32(c.sigs.len() as u32);
    for s in &c.sigs {
        w.u32(s.min_width);
        w.u32(s.max_width.unwrap_or(u32::MAX));
        w.0.push(s.prefilter as u8);
    }
    w.u32(c.groups.len() as u32);
    for g in &c.groups {
        w.db(g.joined.as_ref())?;
        w.db(g.literals.as_ref())?;
        w.db(g.per_field.as_ref())?;
    }
    w.u32(c.streams.len() as u32);
    for s in &c.streams {
        w.db(s.db.as_deref())?;
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(&w.0)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    Ok(())
}

fn load(
    sigs: &[Signature],
    key: &[u8; 32],
    bytes: &[u8],
    started: Instant,
) -> Result<Matcher, String> {
    let mut r = Reader(bytes);
    if r.take(8)? != MAGIC {
        return Err("not a Rampart matcher cache".into());
    }
    if r.take(32)? != key {
        return Err("written for another signature set".into());
    }
    let n = r.u32()? as usize;
    if n != sigs.len() {
        return Err("signature count differs".into());
    }
    let mut analysis = Vec::with_capacity(n);
    for _ in 0..n {
        let min_width = r.u32()?;
        let max = r.u32()?;
        let prefilter = r.take(1)?[0] != 0;
        analysis.push(Analysis {
            min_width,
            max_width: (max != u32::MAX).then_some(max),
            prefilter,
        });
    }
    let (metas, chains, stream_chains) = plan(sigs, &analysis);
    let groups = r.u32()? as usize;
    if groups != chains.len() + merge_classes(&metas, &chains).len() {
        return Err("group count differs".into());
    }
    let mut dbs = Vec::with_capacity(groups);
    for _ in 0..groups {
        dbs.push(GroupDbs {
            joined: r.db(Mode::Block)?,
            literals: r.db(Mode::Block)?,
            per_field: r.db(Mode::Block)?,
        });
    }
    let streams = r.u32()? as usize;
    if streams != stream_chains.len() {
        return Err("stream group count differs".into());
    }
    let mut sdbs = Vec::with_capacity(streams);
    for _ in 0..streams {
        sdbs.push(r.db(Mode::Stream)?.map(std::sync::Arc::new));
    }
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    let prefilter = analysis.iter().map(|a| a.prefilter).collect();
    Ok(Matcher::assemble(
        metas,
        prefilter,
        chains,
        dbs,
        stream_chains,
        sdbs,
        started,
        true,
        sigs,
    ))
}
