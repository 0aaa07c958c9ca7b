//! Steering a client to a fixed core.
//!
//! Exact per-client counters without atomics need every connection of a client
//! address to land on the same worker. The kernel picks among the `SO_REUSEPORT`
//! sockets of a group by a hash of the 4-tuple, which spreads one client's
//! connections over all cores. [`attach`] installs a classic BPF program
//! (`SO_ATTACH_REUSEPORT_CBPF`) on the group that hashes only the source address and
//! returns `hash % n`, the index of the socket — and so of the worker — that gets the
//! connection; [`core_for`] computes the same index in Rust.
//!
//! What the program can see: for reuseport selection the packet starts at the
//! transport (TCP) header, so the IP header is reached through the kernel's negative
//! `SKF_NET_OFF` offsets (`SKF_NET_OFF + k` = byte `k` of the network header). The
//! program reads the IP version there and hashes:
//! - IPv4 (including IPv4 clients of a dual-stack IPv6 listener, whose packets are
//!   IPv4): the 32-bit source address;
//! - IPv6: the upper 64 bits of the source address (its /64 network), because one
//!   IPv6 client usually holds a whole /64 and may rotate through it; every address of
//!   a /64 lands on the same core, so per-address and per-/64 counts are both exact.
//!
//! Hash (32-bit arithmetic, words big-endian as on the wire): `h = 0; for each word w:
//! h = (h ^ w) * 0x9E3779B1; h ^= h >> 16; core = h % n`.
//!
//! The group's sockets must join it in worker order (the server creates them that
//! way): the kernel indexes a reuseport group in the order its sockets started
//! listening. Attaching needs no privilege beyond owning the socket.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use socket2::Socket;

/// `SO_ATTACH_REUSEPORT_CBPF` (asm-generic value; libc does not export it for every
/// Linux target).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;
/// `SKF_NET_OFF`: negative offsets from here address the network header.
const NET: u32 = (-0x100000i32) as u32;
const GOLDEN: u32 = 0x9E37_79B1;

// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const ALU_MUL_K: u16 = 0x24;
const ALU_XOR_X: u16 = 0xac;
const ALU_RSH_K: u16 = 0x74;
const ALU_MOD_K: u16 = 0x94;
const JEQ_K: u16 = 0x15;
const JA: u16 = 0x05;
const TAX: u16 = 0x07;
const RET_A: u16 = 0x16;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The program for a group of `n` sockets.
pub fn program(n: u32) -> Vec<libc::sock_filter> {
    let n = n.max(1);
    vec![
        // 0: A = version nibble of the network header.
        op(LD_B_ABS, 0, 0, NET),
        op(ALU_RSH_K, 0, 0, 4),
        // 2: IPv6 → 6, else IPv4 → 3.
        op(JEQ_K, 3, 0, 6),
        // 3: IPv4: A = saddr * G.
        op(LD_W_ABS, 0, 0, NET.wrapping_add(12)),
        op(ALU_MUL_K, 0, 0, GOLDEN),
        // 5: to the finish.
        op(JA, 0, 0, 6),
        // 6: IPv6: X = w0 * G; A = (X ^ w1) * G.
        op(LD_W_ABS, 0, 0, NET.wrapping_add(8)),
        op(ALU_MUL_K, 0, 0, GOLDEN),
        op(TAX, 0, 0, 0),
        op(LD_W_ABS, 0, 0, NET.wrapping_add(12)),
        op(ALU_XOR_X, 0, 0, 0),
        op(ALU_MUL_K, 0, 0, GOLDEN),
        // 12: finish: A ^= A >> 16; A %= n.
        op(TAX, 0, 0, 0),
        op(ALU_RSH_K, 0, 0, 16),
        op(ALU_XOR_X, 0, 0, 0),
        op(ALU_MOD_K, 0, 0, n),
        op(RET_A, 0, 0, 0),
    ]
}

/// The hash the program computes for a client address.
pub fn hash(ip: IpAddr) -> u32 {
    let mut h = match ip {
        IpAddr::V4(v4) => u32::from(v4).wrapping_mul(GOLDEN),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // A v4 client of a dual-stack listener sends IPv4 packets.
            Some(v4) => u32::from(v4).wrapping_mul(GOLDEN),
            None => {
                let b = v6.octets();
                let w0 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let w1 = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                (w0.wrapping_mul(GOLDEN) ^ w1).wrapping_mul(GOLDEN)
            }
        },
    };
    h ^= h >> 16;
    h
}

/// The worker (index in a reuseport group of `n`) the kernel hands a connection
/// from `ip` to once [`attach`] succeeded.
pub fn core_for(ip: IpAddr, n: usize) -> usize {
    (hash(ip) % (n.max(1) as u32)) as usize
}

/// Installs the steering program on one listen address's reuseport group
/// (`group[i]` belongs to worker `i`). A group of one needs none. On failure the
/// error is logged with its consequence and returned; the listeners keep working
/// with the kernel's 4-tuple hash.
pub fn attach(group: &[&Socket]) -> io::Result<()> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    if group.len() < 2 {
        return Ok(());
    }
    let result = attach_program(first, group.len() as u32);
    if let Err(e) = &result {
        tracing::error!(
            error = %e,
            workers = group.len(),
            "cannot steer connections by client address (SO_ATTACH_REUSEPORT_CBPF); \
             one client's connections spread over all workers, so per-client behaviour \
             counts are per core and only approximate"
        );
    }
    result
}

fn attach_program(socket: &Socket, n: u32) -> io::Result<()> {
    let mut filter = program(n);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `filter`, alive for the call; the kernel copies the
    // program and validates it; the option length is the struct's size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_for_spreads_and_is_stable() {
        let n = 4;
        let mut per = [0usize; 4];
        for i in 0..4096u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            per[core_for(ip, n)] += 1;
            assert_eq!(core_for(ip, n), core_for(ip, n));
        }
        for c in per {
            assert!((800..1250).contains(&c), "{per:?}");
        }
    }

    #[test]
    fn ipv6_steers_by_slash_64_and_mapped_v4_like_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("v6");
        assert_eq!(hash(a), hash(b));
        let v4: IpAddr = "192.0.2.7".parse().expect("v4");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("mapped");
        assert_eq!(hash(v4), hash(mapped));
    }

    #[test]
    fn program_jumps_land_inside() {
        let p = program(3);
        for (i, f) in p.iter().enumerate() {
            if f.code == JEQ_K {
                assert!(i + 1 + (f.jt as usize) < p.len());
                assert!(i + 1 + (f.jf as usize) < p.len());
            }
            if f.code == JA {
                // Lands on the finish: `tax` after the IPv6 words.
                assert_eq!(p[i + 1 + f.k as usize].code, TAX);
                assert_eq!(p[i + f.k as usize].code, ALU_MUL_K);
            }
        }
        assert_eq!(p.last().map(|f| f.code), Some(RET_A));
    }
}
