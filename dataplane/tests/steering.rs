//! Steering by source address with real sockets: N reuseport listeners on
//! 127.0.0.1 with the program attached; clients bound to 127.0.0.2..=127.0.0.60 are
//! each accepted by the listener `core_for` predicts, every time.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use rampart_dataplane::steering::{attach, core_for};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

fn listener(addr: SocketAddr) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.set_reuse_port(true).expect("SO_REUSEPORT");
    s.bind(&addr.into()).expect("bind");
    s.listen(128).expect("listen");
    s.set_nonblocking(true).expect("nonblocking");
    s
}

/// Which listener accepts the next connection (waits up to 5 s).
fn accepted_by(group: &[Socket]) -> (usize, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        for (i, l) in group.iter().enumerate() {
            match l.accept() {
                Ok((_, peer)) => return (i, peer.as_socket().expect("inet peer")),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
        }
        assert!(Instant::now() < deadline, "no listener accepted");
        thread::sleep(Duration::from_millis(1));
    }
}

fn connect_from(src: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(src), 0)))
        .expect("bind client source");
    s.connect(&to.into()).expect("connect");
    s.into()
}

#[test]
fn connections_land_on_the_core_their_source_address_hashes_to() {
    for n in [2usize, 3, 4] {
        let first = listener("127.0.0.1:0".parse().expect("addr"));
        let addr = first.local_addr().expect("addr").as_socket().expect("inet");
        let mut group = vec![first];
        for _ in 1..n {
            group.push(listener(addr));
        }
        let refs: Vec<&Socket> = group.iter().collect();
        attach(&refs).expect("attach the steering program");

        let mut used = vec![0usize; n];
        for last in 2..=60u8 {
            let src = Ipv4Addr::new(127, 0, 0, last);
            let want = core_for(IpAddr::V4(src), n);
            for _ in 0..3 {
                let _client = connect_from(src, addr);
                let (got, peer) = accepted_by(&group);
                assert_eq!(peer.ip(), IpAddr::V4(src));
                assert_eq!(
                    got, want,
                    "n={n}: {src} accepted by {got}, predicted {want}"
                );
                used[got] += 1;
            }
        }
        assert!(
            used.iter().all(|&u| u > 0),
            "n={n}: every core used: {used:?}"
        );
    }
}

#[test]
fn a_group_of_one_needs_no_program() {
    let l = listener("127.0.0.1:0".parse().expect("addr"));
    attach(&[&l]).expect("nothing to attach");
    attach(&[]).expect("nothing to attach");
}

#[test]
fn attach_failure_is_an_error_not_a_crash() {
    // A UDP socket without SO_REUSEPORT has no reuseport group: the kernel refuses.
    let a = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
    let b = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
    let r = attach(&[&a, &b]);
    eprintln!("attach on sockets without a reuseport group: {r:?}");
    assert!(r.is_err());
}
