//! Certificates for the TLS tests, made with rcgen into a temp dir: a CA, a
//! server certificate it issued for `127.0.0.1` and `localhost`, and an
//! unrelated CA that must not be trusted for it.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

use super::write_file;

pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let ca_of = || {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("ca");
        (cert, key)
    };
    let (ca, ca_key) = ca_of();
    let (other, _) = ca_of();
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &ca, &ca_key).expect("sign");
    Pki {
        ca: write_file(d, "ca.pem", &ca.pem()),
        other_ca: write_file(d, "other-ca.pem", &other.pem()),
        cert: write_file(d, "server.pem", &cert.pem()),
        key: write_file(d, "server.key", &key.serialize_pem()),
        _dir: dir,
    }
}
