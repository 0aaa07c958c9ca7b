//! Session tickets every core can open, without a lock.
//!
//! rustls's stock ticketer rotates its key behind an `RwLock` that every core
//! would take on every resumption. Here the keys are fixed for the life of one
//! TLS configuration (a certificate reload builds a new one and keeps the
//! previous key for decryption), so they are shared read-only: a ticket issued
//! on one core resumes on any other, which matters when client addresses are
//! not steered to cores. Tickets are sealed with ChaCha20-Poly1305 under a
//! random 256-bit key and a random nonce (the OS generator), prefixed with a
//! key id so a ticket from the previous key still opens.

use std::fmt;
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

const KEY_ID: usize = 4;
const TAG: usize = 16;

struct Key {
    id: [u8; KEY_ID],
    /// Kept so the next configuration can carry this key as its previous one
    /// (ring's keys cannot be cloned).
    raw: [u8; 32],
    aead: LessSafeKey,
}

impl Key {
    fn random(rng: &SystemRandom) -> Option<Key> {
        let mut id = [0u8; KEY_ID];
        let mut raw = [0u8; 32];
        rng.fill(&mut id).ok()?;
        rng.fill(&mut raw).ok()?;
        Key::from_raw(id, raw)
    }

    fn from_raw(id: [u8; KEY_ID], raw: [u8; 32]) -> Option<Key> {
        let aead = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &raw).ok()?);
        Some(Key { id, raw, aead })
    }
}

/// Ticket keys: the current one seals and opens, the previous one only opens.
pub struct TicketKeys {
    current: Key,
    previous: Option<Key>,
    lifetime_secs: u32,
    rng: SystemRandom,
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeys")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl TicketKeys {
    /// Fresh keys; `previous` (the keys of the configuration being replaced)
    /// keeps its current key for opening tickets already handed out.
    pub fn new(lifetime_secs: u32, previous: Option<&TicketKeys>) -> Option<Arc<TicketKeys>> {
        let rng = SystemRandom::new();
        let current = Key::random(&rng)?;
        let previous = previous.and_then(|p| Key::from_raw(p.current.id, p.current.raw));
        Some(Arc::new(TicketKeys {
            current,
            previous,
            lifetime_secs,
            rng,
        }))
    }
}

impl ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime_secs
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(KEY_ID + NONCE_LEN + plain.len() + TAG);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .current
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.current.id),
                &mut out[KEY_ID + NONCE_LEN..],
            )
            .ok()?;
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        if cipher.len() < KEY_ID + NONCE_LEN + TAG {
            return None;
        }
        let (id, rest) = cipher.split_at(KEY_ID);
        let key = if id == self.current.id {
            &self.current
        } else {
            self.previous.as_ref().filter(|k| k.id == id)?
        };
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let mut buf = sealed.to_vec();
        let plain_len = key
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.id),
                &mut buf,
            )
            .ok()?
            .len();
        buf.truncate(plain_len);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_open_under_the_same_and_the_next_keys_only() {
        let a = TicketKeys::new(3600, None).expect("keys");
        let t = a.encrypt(b"session state").expect("seal");
        assert_eq!(a.decrypt(&t).as_deref(), Some(&b"session state"[..]));
        let b = TicketKeys::new(3600, Some(&a)).expect("keys");
        assert_eq!(
            b.decrypt(&t).as_deref(),
            Some(&b"session state"[..]),
            "previous key opens"
        );
        let c = TicketKeys::new(3600, Some(&b)).expect("keys");
        assert_eq!(
            c.decrypt(&t),
            None,
            "two rotations later the ticket is gone"
        );
        let mut bad = b.encrypt(b"x").expect("seal");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(b.decrypt(&bad), None);
        assert_eq!(b.decrypt(&[1, 2, 3]), None);
    }
}
