//! Certificates for tests (feature `test-pki`): a fresh CA, and a certificate for `localhost`
//! that it signed, all in PEM. Never for production: the keys live only in memory.

/// A CA's certificate, and a `localhost` certificate and key that it signed.
pub struct Pki {
    /// The CA's certificate.
    pub ca: String,
    /// A certificate for `localhost`, signed by the CA.
    pub cert: String,
    /// That certificate's private key.
    pub key: String,
}

/// A new CA and a certificate from it; panics if rcgen cannot make them (a test's setup).
pub fn issue() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let key = || KeyPair::generate().expect("rcgen makes a key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, key()).expect("a self-signed CA");
    let cert_key = key();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("certificate parameters")
        .signed_by(&cert_key, &ca)
        .expect("a certificate signed by the CA");
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: cert_key.serialize_pem(),
    }
}
