//! The ceiling: one Hyperscan block database of every regex signature and one
//! of every literal (literal API), each scanned once over the raw request
//! bytes. No field splitting, no normalisation, no target filtering.

use hyperscan_sys as hs;
use rampart_matcher::engine::{Database, EngineError, Mode, PatternSpec, Scratch};
use rampart_matcher::{Pattern, Signature};

use super::SigBits;

/// Raw Hyperscan over whole requests.
pub struct RawHyperscan {
    regex: Option<Database>,
    literals: Option<Database>,
    scratch: Scratch,
    hits: SigBits,
}

fn flags(sig: &Signature) -> u32 {
    let f = sig.flags;
    let mut bits = 0;
    for (on, bit) in [
        (f.caseless, hs::HS_FLAG_CASELESS),
        (f.dotall, hs::HS_FLAG_DOTALL),
        (f.multiline, hs::HS_FLAG_MULTILINE),
        (f.utf8, hs::HS_FLAG_UTF8),
    ] {
        if on {
            bits |= bit;
        }
    }
    bits
}

impl RawHyperscan {
    /// Compiles the two databases.
    pub fn new(sigs: &[Signature]) -> Result<RawHyperscan, EngineError> {
        let mut regex = Vec::new();
        let mut lits = Vec::new();
        for (i, s) in sigs.iter().enumerate() {
            let id = i as u32;
            let lit_flags = flags(s) & hs::HS_FLAG_CASELESS;
            match &s.pattern {
                Pattern::Regex(p) => regex.push(PatternSpec {
                    expr: p.as_bytes(),
                    flags: flags(s),
                    id,
                }),
                Pattern::Literal(l) => lits.push(PatternSpec {
                    expr: l,
                    flags: lit_flags,
                    id,
                }),
                Pattern::Literals(list) => lits.extend(list.iter().map(|l| PatternSpec {
                    expr: l,
                    flags: lit_flags,
                    id,
                })),
            }
        }
        let regex = (!regex.is_empty())
            .then(|| Database::compile(&regex, Mode::Block))
            .transpose()?;
        let literals = (!lits.is_empty())
            .then(|| Database::compile_literals(&lits, Mode::Block))
            .transpose()?;
        let scratch = Scratch::for_databases(regex.iter().chain(literals.iter()))?;
        Ok(RawHyperscan {
            regex,
            literals,
            scratch,
            hits: SigBits::new(sigs.len()),
        })
    }

    /// Scans one request's bytes with both databases; returns how many
    /// distinct signatures matched anywhere in it.
    pub fn scan(&mut self, raw: &[u8]) -> Result<usize, EngineError> {
        self.hits.clear();
        let hits = &mut self.hits;
        for db in [&self.regex, &self.literals].into_iter().flatten() {
            db.scan(raw, &mut self.scratch, |id, _| {
                hits.set(id as usize);
                true
            })?;
        }
        Ok(self.hits.count())
    }
}
