//! Mutual TLS on stream connections. Lync federation rides TLS with certificates on both
//! sides: the Edge presents one to the gateway, and the gateway presents one back (MS-SIPRE
//! §2.1; RFC 3261 §26.2.1). [`Pki`] mints a CA and certificates per run with rcgen, so no key
//! is ever committed; [`StreamTls`] is what an endpoint needs to accept and open such
//! connections with rustls (ring provider).

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen refused a certificate.
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused a configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A server name that is not a DNS name or an address.
    #[error("TLS server name `{0}` is not a DNS name or an IP address")]
    Name(String),
}

/// A certificate and its private key.
#[derive(Debug)]
pub struct Identity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// A certificate authority minted for one run.
pub struct Pki {
    params: CertificateParams,
    key: KeyPair,
    /// The CA's own certificate, the trust anchor both sides are given.
    pub root: CertificateDer<'static>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("name", &self.params.distinguished_name).finish_non_exhaustive()
    }
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let root = params.self_signed(&key)?.der().clone();
        Ok(Self { params, key, root })
    }

    /// A certificate for `dns` (and `ip`, when given) that serves both as a TLS server and as
    /// a TLS client: an Edge and a gateway each take both roles.
    pub fn issue(&self, dns: &str, ip: Option<IpAddr>) -> Result<Identity, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![dns.to_owned()])?;
        params.subject_alt_names.extend(ip.map(SanType::IpAddress));
        params.distinguished_name.push(DnType::CommonName, dns);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Identity { chain: vec![cert.der().clone(), self.root.clone()], key: key.serialize_der().into() })
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.root.clone())?;
        Ok(Arc::new(roots))
    }

    /// A server that presents `me` and requires a client certificate issued by this CA.
    pub fn acceptor(&self, me: &Identity) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots()?, Arc::clone(&provider)).build()?;
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(me.chain.clone(), me.key())?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// A client that trusts only this CA, presents `me` (when given) and expects the server
    /// to be `server`.
    pub fn connector(&self, me: Option<&Identity>, server: &str) -> Result<StreamConnector, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots()?);
        let config = match me {
            Some(me) => builder.with_client_auth_cert(me.chain.clone(), me.key())?,
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(server.to_owned()).map_err(|_| TlsError::Name(server.to_owned()))?;
        Ok(StreamConnector { connector: TlsConnector::from(Arc::new(config)), name })
    }
}

/// The client side of TLS for one server name.
#[derive(Clone)]
pub struct StreamConnector {
    /// The rustls connector.
    pub connector: TlsConnector,
    /// The name the server's certificate must carry.
    pub name: ServerName<'static>,
}

/// TLS on an endpoint's stream connections: accepted ones are TLS servers, opened ones TLS
/// clients. An endpoint without it speaks plain TCP.
#[derive(Clone, Default)]
pub struct StreamTls {
    /// Accepted connections complete this handshake before any SIP is read.
    pub acceptor: Option<TlsAcceptor>,
    /// Opened connections complete this handshake before any SIP is written.
    pub connector: Option<StreamConnector>,
}

impl std::fmt::Debug for StreamConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConnector").field("name", &self.name).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTls")
            .field("accepts", &self.acceptor.is_some())
            .field("connects_to", &self.connector.as_ref().map(|c| format!("{:?}", c.name)))
            .finish()
    }
}
