//! Encoding of io_uring `user_data`: which operation completed, for which slot, and
//! for which incarnation of that slot.
//!
//! Slots are reused after a connection closes while completions of the old
//! connection may still be in flight (a cancelled multishot recv posts its last CQE
//! later). The generation makes such late completions recognisable so they are
//! dropped instead of being applied to the slot's new tenant.

/// What a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Accept = 1,
    ClientRecv = 2,
    ClientSend = 3,
    UpstreamRecv = 4,
    UpstreamSend = 5,
    UpstreamConnect = 6,
    /// Completions we never act on (link timeouts, cancels, closes).
    Ignore = 7,
    /// The worker's control eventfd became readable.
    Control = 8,
    /// A held connection's timer (tarpit, delayed deception) expired.
    Timer = 9,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::Accept,
            2 => Op::ClientRecv,
            3 => Op::ClientSend,
            4 => Op::UpstreamRecv,
            5 => Op::UpstreamSend,
            6 => Op::UpstreamConnect,
            7 => Op::Ignore,
            8 => Op::Control,
            9 => Op::Timer,
            _ => return None,
        })
    }
}

/// A decoded `user_data`: 8 bits op, 24 bits slot index, 32 bits generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub op: Op,
    pub slot: u32,
    pub gen: u32,
}

/// Slots are limited to 24 bits, far above any per-core connection limit we accept.
pub const MAX_SLOTS: u32 = 1 << 24;

impl Token {
    pub fn new(op: Op, slot: u32, gen: u32) -> Token {
        debug_assert!(slot < MAX_SLOTS);
        Token { op, slot, gen }
    }

    pub fn encode(self) -> u64 {
        ((self.op as u64) << 56) | (((self.slot & (MAX_SLOTS - 1)) as u64) << 32) | self.gen as u64
    }

    pub fn decode(v: u64) -> Option<Token> {
        let op = Op::from_u8((v >> 56) as u8)?;
        Some(Token {
            op,
            slot: ((v >> 32) as u32) & (MAX_SLOTS - 1),
            gen: v as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for op in [
            Op::Accept,
            Op::ClientRecv,
            Op::UpstreamSend,
            Op::Control,
            Op::Timer,
        ] {
            let t = Token::new(op, MAX_SLOTS - 1, u32::MAX);
            assert_eq!(Token::decode(t.encode()), Some(t));
        }
        assert_eq!(Token::decode(0), None);
    }
}
