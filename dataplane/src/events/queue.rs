//! A core's bounded event queue: a wait-free single-producer single-consumer
//! byte ring (`rtrb`) between one worker and the writer thread.
//!
//! An event is pushed whole or not at all, so the writer only ever sees
//! complete lines: whatever it reads ends at a line end. A full ring means
//! the writer is behind; the core drops the event and counts it rather than
//! wait. Nothing here allocates after [`pair`].

use rtrb::{Consumer, Producer, RingBuffer};

/// The core's end.
pub struct Tx(Producer<u8>);

/// The writer's end.
pub struct Rx(Consumer<u8>);

/// A ring of `bytes` capacity.
pub fn pair(bytes: usize) -> (Tx, Rx) {
    let (p, c) = RingBuffer::new(bytes.max(1));
    (Tx(p), Rx(c))
}

impl Tx {
    /// Queues `line` whole; `false` (nothing queued) when it does not fit.
    pub fn push(&mut self, line: &[u8]) -> bool {
        self.0.push_entire_slice(line).is_ok()
    }
}

impl Rx {
    /// Hands everything queued (whole lines) to `f` as up to two slices,
    /// then frees it; returns the number of bytes taken.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8], &[u8])) -> usize {
        let n = self.0.slots();
        if n == 0 {
            return 0;
        }
        match self.0.read_chunk(n) {
            Ok(chunk) => {
                let (a, b) = chunk.as_slices();
                f(a, b);
                chunk.commit_all();
                n
            }
            Err(_) => 0,
        }
    }

    /// Size of the ring.
    pub fn capacity(&self) -> usize {
        self.0.buffer().capacity()
    }

    /// Bytes queued.
    pub fn pending(&self) -> usize {
        self.0.slots()
    }

    /// Whether the core's end is gone (its worker stopped).
    pub fn abandoned(&self) -> bool {
        self.0.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::pair;

    #[test]
    fn lines_go_whole_or_not_at_all() {
        let (mut tx, mut rx) = pair(10);
        assert!(tx.push(b"abcd\n"));
        assert!(!tx.push(b"efghij\n"), "7 bytes do not fit in the 5 left");
        assert!(tx.push(b"efg\n"));
        let mut got = Vec::new();
        assert_eq!(
            rx.drain(|a, b| {
                got.extend_from_slice(a);
                got.extend_from_slice(b);
            }),
            9
        );
        assert_eq!(got, b"abcd\nefg\n");
        // Wraps around the end of the ring.
        assert!(tx.push(b"hijklmn\n"));
        got.clear();
        rx.drain(|a, b| {
            got.extend_from_slice(a);
            got.extend_from_slice(b);
        });
        assert_eq!(got, b"hijklmn\n");
    }
}
