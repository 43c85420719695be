//! Mutual TLS on the enterprise face (issue 8, security probes): the reference gateway takes a
//! connection only from a client whose certificate its federation CA issued, and the client
//! takes only a gateway whose certificate that CA issued. Certificates are minted per test
//! (rcgen); every wait is the endpoint's own bounded one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use fedcert::gateway::Gateway;
use fedcert::net::tls::{Identity, Pki, StreamTls};
use fedcert::net::{EndpointConfig, EndpointHandle, Tap, start};
use fedcert::sip::txn::Peer;
use fedcert::sip::wire::{MessageBuilder, Method};
use fedcert::sut::SutProfile;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const GW: &str = "gw.fedcert.test";

async fn gateway(pki: &Pki, me: &Identity) -> Gateway {
    let mut config = SutProfile::embedded().gateway_config(IP);
    config.enterprise_tls = StreamTls {
        acceptor: Some(pki.acceptor(me).expect("acceptor")),
        connector: Some(pki.connector(Some(me), "edge.contoso.com").expect("connector")),
    };
    Gateway::start_on(config, (SocketAddr::new(IP, 0), SocketAddr::new(IP, 0)), 1).await.expect("gateway")
}

/// An Edge endpoint trusting `trust`'s CA and presenting `me`.
async fn edge(trust: &Pki, me: Option<&Identity>) -> EndpointHandle {
    let mut c = EndpointConfig::ephemeral(IP);
    c.tls = StreamTls { acceptor: None, connector: Some(trust.connector(me, GW).expect("connector")) };
    start(c, Tap::new(), "edge").await.expect("edge").0
}

/// OPTIONS to the gateway itself over the enterprise face: the status, or why none came.
async fn ping(ep: &EndpointHandle, face: SocketAddr, n: u64) -> Result<u16, String> {
    let mut rng = fastrand::Rng::with_seed(n);
    let uri = format!("sip:{face}");
    let req = MessageBuilder::request(Method::OPTIONS, &uri)
        .header("Via", ep.via(true, &mut rng))
        .header("Max-Forwards", "70")
        .header("From", format!("<sip:edge@contoso.com>;tag=t{n}"))
        .header("To", format!("<{uri}>"))
        .header("Call-ID", format!("tls-{n}"))
        .header("CSeq", "1 OPTIONS")
        .build();
    let r = ep.request(req, Peer { addr: face, reliable: true }).await.map_err(|e| e.to_string())?;
    r.status().ok_or_else(|| "a request came back".to_owned())
}

/// How a refused connection shows to the client: a transport error, or (TLS 1.3: the client
/// finishes its side of the handshake before the server judges its certificate) the request's
/// transaction failing when the server drops the connection.
fn refused(e: &str) -> bool {
    e.contains("transport error") || e.contains("no final response")
}

#[tokio::test]
async fn the_enterprise_face_takes_only_peers_its_federation_ca_certified() {
    let pki = Pki::new("fedcert federation CA").expect("CA");
    let rogue = Pki::new("rogue CA").expect("rogue CA");
    let gw_id = pki.issue(GW, Some(IP)).expect("gateway certificate");
    let gw = gateway(&pki, &gw_id).await;
    let face = gw.enterprise_face();

    // The Edge with a certificate from the federation CA is served.
    let good = edge(&pki, Some(&pki.issue("edge.contoso.com", Some(IP)).expect("cert"))).await;
    assert_eq!(ping(&good, face, 1).await, Ok(200));

    // A certificate from another CA, and no certificate at all: the handshake is refused and
    // no request gets through.
    let forged = edge(&pki, Some(&rogue.issue("edge.contoso.com", Some(IP)).expect("cert"))).await;
    let e = ping(&forged, face, 2).await.expect_err("a rogue certificate must be refused");
    assert!(refused(&e), "{e}");
    let anonymous = edge(&pki, None).await;
    let e = ping(&anonymous, face, 3).await.expect_err("a client without a certificate must be refused");
    assert!(refused(&e), "{e}");

    // A gateway presenting a certificate the Edge's CA did not issue is refused by the Edge.
    let impostor_id = rogue.issue(GW, Some(IP)).expect("cert");
    let impostor = gateway(&rogue, &impostor_id).await;
    let careful = edge(&pki, Some(&pki.issue("edge.contoso.com", Some(IP)).expect("cert"))).await;
    let e = ping(&careful, impostor.enterprise_face(), 4).await.expect_err("an impostor gateway must be refused");
    assert!(refused(&e), "{e}");

    // And the gateway still serves the good Edge after the refusals.
    assert_eq!(ping(&good, face, 5).await, Ok(200));
    gw.shutdown();
    impostor.shutdown();
}
