//! [`Wire`]: one connection's bytes, in the clear or through TLS ([`Tls`], rustls), shared by
//! the thread that reads it and the threads that write to it.
//!
//! With TLS, the rustls connection (a state machine with no I/O of its own) sits under a mutex:
//! the reader blocks on the socket *without* the lock, then takes it only to hand rustls the
//! bytes that came and take the plaintext out; a writer takes it to encrypt a frame and write
//! the records. So a reader waiting for bytes never holds up a writer. Peers authenticate each
//! other: each member presents a certificate that the cluster's CA signed, and checks the
//! other's.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, PrivateKeyDer, ServerName};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// A member's TLS: its certificate and key, and the CA that signed every member's certificate.
#[derive(Clone)]
pub struct Tls {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls {{ name: {:?} }}", self.name)
    }
}

/// Why [`Tls::from_pem`] refused its input, by the input at fault.
#[derive(Debug)]
pub enum TlsError {
    /// The CA's PEM does not parse.
    CaPem(pem::Error),
    /// The CA's PEM holds no certificate.
    NoCaCertificate,
    /// The CA's certificate cannot be a root of trust.
    CaCertificate(rustls::Error),
    /// No verifier of the members' certificates can be built on the CA.
    CaVerifier(VerifierBuilderError),
    /// This member's certificate PEM does not parse.
    CertificatePem(pem::Error),
    /// This member's certificate PEM holds no certificate.
    NoCertificate,
    /// The key's PEM does not parse, or holds no private key.
    KeyPem(pem::Error),
    /// rustls refuses this member's certificate and key together (say, they do not match).
    CertificateAndKey(rustls::Error),
    /// The crypto provider offers none of rustls' default protocol versions.
    ProtocolVersions(rustls::Error),
    /// `name` is not a name a certificate can carry (a DNS name or an IP address).
    Name {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        source: InvalidDnsNameError,
    },
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::CaPem(e) => write!(f, "the CA's certificate: {e}"),
            TlsError::NoCaCertificate => f.write_str("the CA file holds no certificate"),
            TlsError::CaCertificate(e) => write!(f, "the CA's certificate: {e}"),
            TlsError::CaVerifier(e) => write!(f, "the CA: {e}"),
            TlsError::CertificatePem(e) => write!(f, "the certificate: {e}"),
            TlsError::NoCertificate => f.write_str("the certificate file holds no certificate"),
            TlsError::KeyPem(e) => write!(f, "the key: {e}"),
            TlsError::CertificateAndKey(e) => write!(f, "the certificate and key: {e}"),
            TlsError::ProtocolVersions(e) => write!(f, "TLS protocol versions: {e}"),
            TlsError::Name { name, source } => {
                write!(
                    f,
                    "'{name}' is not a name a certificate can carry: {source}"
                )
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::CaPem(e) | TlsError::CertificatePem(e) | TlsError::KeyPem(e) => Some(e),
            TlsError::CaCertificate(e)
            | TlsError::CertificateAndKey(e)
            | TlsError::ProtocolVersions(e) => Some(e),
            TlsError::CaVerifier(e) => Some(e),
            TlsError::Name { source, .. } => Some(source),
            TlsError::NoCaCertificate | TlsError::NoCertificate => None,
        }
    }
}

impl Tls {
    /// From PEM: the CA's certificate, this member's certificate (chain) and private key, and
    /// the name every member's certificate carries (such as `localhost`).
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8], name: &str) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca) {
            roots
                .add(ca.map_err(TlsError::CaPem)?)
                .map_err(TlsError::CaCertificate)?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoCaCertificate);
        }
        let roots = Arc::new(roots);
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(TlsError::CertificatePem)?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(TlsError::KeyPem)?;
        let client = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::ProtocolVersions)?
            .with_root_certificates(Arc::clone(&roots))
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(TlsError::CertificateAndKey)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(TlsError::CaVerifier)?;
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::ProtocolVersions)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(TlsError::CertificateAndKey)?;
        let name = ServerName::try_from(name.to_string()).map_err(|source| TlsError::Name {
            name: name.to_string(),
            source,
        })?;
        Ok(Tls {
            client: Arc::new(client),
            server: Arc::new(server),
            name,
        })
    }
}

/// One connection, shared by its reader and its writers.
pub(crate) struct Wire {
    tcp: TcpStream,
    tls: Option<Mutex<TlsState>>,
}

struct TlsState {
    conn: rustls::Connection,
    /// Plaintext taken out of rustls and not yet read.
    plain: Vec<u8>,
}

impl Wire {
    /// `tcp` in the clear.
    pub(crate) fn plain(tcp: TcpStream) -> Arc<Wire> {
        Arc::new(Wire { tcp, tls: None })
    }

    /// The client's side of a TLS connection over `tcp`, once the handshake is done (within
    /// `timeout`).
    pub(crate) fn connect(tcp: TcpStream, tls: &Tls, timeout: Duration) -> io::Result<Arc<Wire>> {
        let conn = ClientConnection::new(Arc::clone(&tls.client), tls.name.clone())
            .map_err(io::Error::other)?;
        Wire::handshake(tcp, rustls::Connection::Client(conn), timeout)
    }

    /// The server's side of a TLS connection over `tcp`, once the handshake is done.
    pub(crate) fn accept(tcp: TcpStream, tls: &Tls, timeout: Duration) -> io::Result<Arc<Wire>> {
        let conn = ServerConnection::new(Arc::clone(&tls.server)).map_err(io::Error::other)?;
        Wire::handshake(tcp, rustls::Connection::Server(conn), timeout)
    }

    fn handshake(
        tcp: TcpStream,
        mut conn: rustls::Connection,
        timeout: Duration,
    ) -> io::Result<Arc<Wire>> {
        let before = tcp.read_timeout()?;
        tcp.set_read_timeout(Some(timeout))?;
        while conn.is_handshaking() {
            let mut io = &tcp;
            conn.complete_io(&mut io)
                .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake: {e}")))?;
        }
        tcp.set_read_timeout(before)?;
        Ok(Arc::new(Wire {
            tcp,
            tls: Some(Mutex::new(TlsState {
                conn,
                plain: Vec::new(),
            })),
        }))
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub(crate) fn shutdown(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// Writes all of `bytes`.
    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return (&self.tcp).write_all(bytes);
        };
        let mut tls = tls.lock();
        tls.conn.writer().write_all(bytes)?;
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut &self.tcp)?;
        }
        Ok(())
    }

    /// Reads some bytes: `Ok(0)` when the other side has closed.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return (&self.tcp).read(buf);
        };
        let mut cipher = [0u8; 16 << 10];
        loop {
            {
                let mut tls = tls.lock();
                // Plaintext rustls already holds (the handshake's last read may have brought
                // the first frame with it), then what is buffered here.
                let closed = tls.take_plaintext()?;
                if !tls.plain.is_empty() {
                    let n = buf.len().min(tls.plain.len());
                    buf[..n].copy_from_slice(&tls.plain[..n]);
                    tls.plain.drain(..n);
                    return Ok(n);
                }
                if closed {
                    return Ok(0);
                }
            }
            // Blocks without the lock, so that writers go on.
            let got = (&self.tcp).read(&mut cipher)?;
            if got == 0 {
                return Ok(0);
            }
            let mut tls = tls.lock();
            let mut input = &cipher[..got];
            while !input.is_empty() {
                tls.conn.read_tls(&mut input)?;
                tls.conn
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                // Drained after each record batch, so rustls' buffer never fills.
                tls.take_plaintext()?;
            }
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut &self.tcp)?;
            }
        }
    }
}

impl TlsState {
    /// Moves the plaintext rustls holds into `plain`; true once the peer has closed.
    fn take_plaintext(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut chunk) {
                Ok(0) => return Ok(true),
                Ok(n) => self.plain.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The reading half: `Read` on a shared [`Wire`].
pub(crate) struct WireReader(pub(crate) Arc<Wire>);

impl Read for WireReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// The writing half: `Write` on a shared [`Wire`] (put a `BufWriter` over it).
pub(crate) struct WireWriter(pub(crate) Arc<Wire>);

impl Write for WireWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
