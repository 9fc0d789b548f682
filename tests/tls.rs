//! TLS at both ends, over real sockets with certificates made here
//! (rcgen): the TLS listener (ALPN, SNI, renewals, the redirect listener,
//! `Secure` cookies) and `https://` upstreams (verification, mTLS,
//! pooled connections).

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use support::*;
use tokio::net::TcpStream;

/// A test CA, and the files it signs into a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "vestibule test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = p.self_signed(&ca_key).unwrap();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca,
            ca_key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A certificate for `names` signed by the CA, written as `stem.pem`
    /// and `stem.key`; returns their paths.
    fn leaf(&self, names: &[&str], stem: &str) -> (PathBuf, PathBuf) {
        let p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (c, k) = (self.path(&format!("{stem}.pem")), self.path(&format!("{stem}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn ca_file(&self) -> PathBuf {
        let p = self.path("ca.pem");
        std::fs::write(&p, self.ca.pem()).unwrap();
        p
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        roots
    }

    /// A client that trusts the CA and offers `alpn`.
    fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots())
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    }

    /// Server settings for a fake https backend with the certificate at
    /// `stem`, asking for a client certificate the CA signed if `mtls`.
    fn backend(&self, stem: &str, mtls: bool) -> tokio_rustls::TlsAcceptor {
        let (c, k) = (self.path(&format!("{stem}.pem")), self.path(&format!("{stem}.key")));
        let chain: Vec<CertificateDer<'static>> = rustls::pki_types::pem::PemObject::pem_file_iter(&c)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = rustls::pki_types::pem::PemObject::from_pem_file(&k).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let b = if mtls {
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()), provider)
                .build()
                .unwrap();
            b.with_client_cert_verifier(v)
        } else {
            b.with_no_client_auth()
        };
        let cfg = b.with_single_cert(chain, key).unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    }
}

/// A TLS connection to `addr` asking for `name`; the names in the
/// certificate it was given, and the protocol ALPN chose.
async fn handshake(
    pki: &Pki,
    addr: SocketAddr,
    name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<(tokio_rustls::client::TlsStream<TcpStream>, Vec<String>, Option<Vec<u8>>)> {
    let tcp = TcpStream::connect(addr).await?;
    let s = pki
        .client(alpn)
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await?;
    let (_, conn) = s.get_ref();
    let cert = conn.peer_certificates().unwrap()[0].clone();
    let info = x509_names(&cert);
    let proto = conn.alpn_protocol().map(<[u8]>::to_vec);
    Ok((s, info, proto))
}

fn x509_names(der: &CertificateDer<'_>) -> Vec<String> {
    let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
    c.subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One HTTP/1.1 request on an open connection.
type H1 = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn h1(io: tokio_rustls::client::TlsStream<TcpStream>) -> H1 {
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(conn);
    send
}

async fn get(send: &mut H1, host: &str, path: &str) -> (StatusCode, http::HeaderMap, String) {
    let req = Request::get(path).header("host", host).body(Empty::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

/// The config file of a vestibule with a TLS listener (and the plain one)
/// in front of the harness's upstream, one room of `capacity`.
fn tls_file(tls: &str, capacity: u32) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{{upstream}}\"\n\
         [server.tls]\nlisten = \"127.0.0.1:0\"\n{tls}\n\
         [[room]]\nname = \"registration\"\npaths = [\"/register\"]\ncapacity = {capacity}\n\
         [log]\naccess = \"off\"\n"
    )
}

#[tokio::test]
async fn browsers_get_http2_by_alpn_and_older_clients_http1() {
    let pki = Pki::new();
    let (c, k) = pki.leaf(&["tickets.example.test"], "site");
    let text = tls_file(&format!("cert_file = {c:?}\nkey_file = {k:?}\n"), 10);
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &text).await;
    let addr = h.running.tls_addr.unwrap();

    let (io, names, proto) = handshake(&pki, addr, "tickets.example.test", &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(names, ["tickets.example.test"]);
    assert_eq!(proto.as_deref(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://tickets.example.test/register")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure"),
        "a session cookie over TLS is Secure: {cookie}"
    );
    let echo: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
    assert_eq!(echo["headers"]["host"], "tickets.example.test");

    let (io, _, proto) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(proto.as_deref(), Some(&b"http/1.1"[..]));
    let mut send = h1(io).await;
    let (status, headers, _) = get(&mut send, "tickets.example.test", "/register").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["set-cookie"].to_str().unwrap().contains("; Secure"));

    // The plain listener still serves (no redirect asked for), without Secure.
    let r = h.visitor().get("/register").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.header("set-cookie").unwrap().contains("Secure"));
    assert_eq!(r.json()["headers"]["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn the_name_a_client_asks_for_picks_the_certificate() {
    let pki = Pki::new();
    let (c1, k1) = pki.leaf(&["www.example.test"], "www");
    let (c2, k2) = pki.leaf(&["tickets.example.test", "*.tickets.example.test"], "tickets");
    let (c3, k3) = pki.leaf(&["live.example.test"], "live");
    let tls = format!(
        "cert_file = {c1:?}\nkey_file = {k1:?}\n\
         [[server.tls.cert]]\ncert_file = {c2:?}\nkey_file = {k2:?}\n\
         [[server.tls.cert]]\nhosts = [\"stream.example.test\"]\ncert_file = {c3:?}\nkey_file = {k3:?}\n"
    );
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &tls_file(&tls, 10)).await;
    let addr = h.running.tls_addr.unwrap();
    let names = |n: &'static str| {
        let pki = &pki;
        async move { handshake(pki, addr, n, &[b"http/1.1"]).await.map(|(_, names, _)| names) }
    };
    assert_eq!(names("tickets.example.test").await.unwrap()[0], "tickets.example.test");
    assert_eq!(
        names("eu.tickets.example.test").await.unwrap()[0],
        "tickets.example.test"
    );
    assert_eq!(names("www.example.test").await.unwrap(), ["www.example.test"]);
    // `hosts` chooses, not the names inside.
    let e = names("stream.example.test").await.unwrap_err();
    assert!(
        e.to_string().contains("certificate"),
        "live's certificate is not for this name: {e}"
    );
    // Unknown names get the first certificate, which the client then refuses.
    assert!(names("other.example.test").await.is_err());
    // No handshake failure held anything: a normal client still gets in.
    let (io, _, _) = handshake(&pki, addr, "www.example.test", &[b"http/1.1"]).await.unwrap();
    let (status, _, _) = get(&mut h1(io).await, "www.example.test", "/").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_renewal_on_disk_is_served_without_dropping_a_connection_and_a_broken_one_is_refused() {
    let pki = Pki::new();
    let (c, k) = pki.leaf(&["tickets.example.test"], "site");
    let text = tls_file(&format!("cert_file = {c:?}\nkey_file = {k:?}\n"), 10);
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &text).await;
    let addr = h.running.tls_addr.unwrap();
    let (io, names, _) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(names, ["tickets.example.test"]);
    let mut open = h1(io).await;
    assert_eq!(get(&mut open, "tickets.example.test", "/").await.0, StatusCode::OK);

    // certbot renews: a new chain and key, written over the old files.
    let (rc, rk) = pki.leaf(&["tickets.example.test", "renewed.example.test"], "renewed");
    std::fs::rename(&rk, &k).unwrap();
    std::fs::rename(&rc, &c).unwrap();
    eventually(10, "the renewal is served", async || {
        handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
            .await
            .is_ok_and(|(_, n, _)| n.len() == 2)
    })
    .await;
    assert_eq!(
        get(&mut open, "tickets.example.test", "/").await.0,
        StatusCode::OK,
        "the connection made before the renewal goes on"
    );
    assert_eq!(
        metric(
            &h.metrics().await,
            "vestibule_tls_certificate_reloads_total{result=\"ok\"}"
        ),
        1.0
    );

    // A broken renewal (half a file, a key of another certificate): refused,
    // the served certificate stays.
    let (_, other_key) = pki.leaf(&["x.example.test"], "other");
    std::fs::copy(&other_key, &k).unwrap();
    eventually(10, "the broken renewal is refused", async || {
        metric(
            &h.metrics().await,
            "vestibule_tls_certificate_reloads_total{result=\"error\"}",
        ) == 1.0
    })
    .await;
    let (_, names, _) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(names.len(), 2, "the renewed certificate is still served");
    std::fs::write(&c, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    vestibule::reload::follow_certificates(&h.running.app, true);
    assert_eq!(
        metric(
            &h.metrics().await,
            "vestibule_tls_certificate_reloads_total{result=\"error\"}"
        ),
        2.0
    );
    assert!(handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .is_ok());
}

#[tokio::test]
async fn the_plain_listener_redirects_to_https_but_for_vestibules_own_paths_and_acme() {
    let pki = Pki::new();
    let (c, k) = pki.leaf(&["tickets.example.test"], "site");
    let text = tls_file(
        &format!("cert_file = {c:?}\nkey_file = {k:?}\nredirect_http = true\n"),
        10,
    );
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &text).await;
    let port = h.running.tls_addr.unwrap().port();
    let v = h.visitor();
    let r = v
        .send(
            http::Method::POST,
            "/register?step=2",
            &[("host", "tickets.example.test:8080")],
            Bytes::from("a=1"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::PERMANENT_REDIRECT,
        "308 keeps the method and body"
    );
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://tickets.example.test:{port}/register?step=2")
    );
    assert_eq!(h.upstream.total(), 0);
    let acme = v.get("/.well-known/acme-challenge/token123").await;
    assert!(acme.reached_upstream(), "ACME's HTTP challenge reaches the backend");
    let status = v.get("/_vestibule/status?room=registration").await;
    assert_ne!(status.status, StatusCode::PERMANENT_REDIRECT);
    // A Location cannot be bent with a strange Host.
    let r = v
        .send(http::Method::GET, "/", &[("host", "evil.test/x?")], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_tls_answer_carries_hsts_as_the_file_says_and_no_plain_one_does() {
    let pki = Pki::new();
    let (c, k) = pki.leaf(&["tickets.example.test"], "site");
    let tls = |hsts: &str| format!("cert_file = {c:?}\nkey_file = {k:?}\n{hsts}");
    let text = tls_file(&tls("hsts = \"365d\"\nhsts_include_subdomains = true\n"), 1);
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &text).await;
    let addr = h.running.tls_addr.unwrap();
    let connect = async || {
        let (io, _, _) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
            .await
            .unwrap();
        h1(io).await
    };
    let sts = |headers: &http::HeaderMap| {
        headers
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let year = Some("max-age=31536000; includeSubDomains".to_string());

    // Forwarded (the backend's own policy replaced), the waiting page of
    // a full room, the status JSON, vestibule's own 404: all carry it.
    let mut first = connect().await;
    let (status, headers, body) = get(&mut first, "tickets.example.test", "/register?sts=backend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(sts(&headers), year);
    assert_eq!(headers.get_all("strict-transport-security").iter().count(), 1);
    let mut second = connect().await;
    let (status, headers, _) = get(&mut second, "tickets.example.test", "/register").await;
    assert_eq!(status, StatusCode::OK, "a full room's waiting page");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(sts(&headers), year);
    let (_, headers, _) = get(
        &mut second,
        "tickets.example.test",
        "/_vestibule/status?room=registration",
    )
    .await;
    assert_eq!(sts(&headers), year);
    let (status, headers, _) = get(&mut second, "tickets.example.test", "/_vestibule/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sts(&headers), year);

    // Never over plain HTTP: browsers ignore it there, and it is not ours
    // to add to the backend's plain answers.
    let r = h.visitor().get("/elsewhere").await;
    assert!(r.reached_upstream());
    assert_eq!(r.header("strict-transport-security"), None);
    let r = h.visitor().get("/elsewhere?sts=backend").await;
    assert_eq!(r.header("strict-transport-security"), Some("max-age=60"));

    // Backing out: "0s" tells browsers to forget, live from the file.
    std::fs::write(
        pki.dir.path().join("vestibule.toml"),
        text.replace("hsts = \"365d\"\nhsts_include_subdomains = true\n", "hsts = \"0s\"\n")
            .replace("{upstream}", &h.upstream.addr.to_string()),
    )
    .unwrap();
    let r = h
        .admin()
        .send(http::Method::POST, "/api/reload", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, headers, _) = get(&mut first, "tickets.example.test", "/elsewhere").await;
    assert_eq!(sts(&headers).as_deref(), Some("max-age=0"));
}

#[test]
fn hsts_settings_that_browsers_would_not_take_are_config_problems() {
    let problems = |tls: &str| {
        let text = tls_file(&format!("cert_file = \"c.pem\"\nkey_file = \"k.pem\"\n{tls}"), 1)
            .replace("{upstream}", "127.0.0.1:9");
        match vestibule::config::Config::parse(&text, Path::new("."), "t") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        problems("hsts = \"2y\"\nhsts_include_subdomains = true\nhsts_preload = true\n"),
        ""
    );
    let e = problems("hsts = \"30d\"\nhsts_include_subdomains = true\nhsts_preload = true\n");
    assert!(
        e.contains("server.tls.hsts_preload") && e.contains("a year or more"),
        "{e}"
    );
    let e = problems("hsts = \"365d\"\nhsts_preload = true\n");
    assert!(e.contains("server.tls.hsts_preload"), "{e}");
    let e = problems("hsts = \"a year\"\n");
    assert!(e.contains("server.tls.hsts") && e.contains("not a duration"), "{e}");
    let e = problems("hsts_include_subdomains = true\n");
    assert!(
        e.contains("server.tls.hsts_include_subdomains") && e.contains("needs hsts"),
        "{e}"
    );
    assert_eq!(
        problems("hsts_include_subdomains = false\nhsts_preload = false\n"),
        "",
        "the defaults written out"
    );
    for out_of_range in ["500ms", "3y", "18446744073709551615s"] {
        let e = problems(&format!("hsts = {out_of_range:?}\n"));
        assert!(
            e.contains("server.tls.hsts") && e.contains("out of range"),
            "{out_of_range}: {e}"
        );
    }
    for fine in ["0s", "1s", "1y", "730d"] {
        assert_eq!(problems(&format!("hsts = {fine:?}\n")), "", "{fine}");
    }
}

#[tokio::test]
async fn a_broken_certificate_stops_the_start_with_the_file_named() {
    let pki = Pki::new();
    let (c, _) = pki.leaf(&["a.example.test"], "a");
    let (_, k_other) = pki.leaf(&["b.example.test"], "b");
    let text =
        tls_file(&format!("cert_file = {c:?}\nkey_file = {k_other:?}\n"), 10).replace("{upstream}", "127.0.0.1:1");
    let path = pki.path("vestibule.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = vestibule::config::Config::load(&path).unwrap();
    let problems = vestibule::secrets::preflight(&cfg);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("b.key: this key is not the key of the certificate in"),
        "{problems:?}"
    );
    let started = vestibule::spawn(
        cfg,
        vestibule::Options {
            keys: Some(vestibule::token::Keys::from_text("test-secret-0123456789abcdef0123456789").unwrap()),
            scheduler: false,
            ..Default::default()
        },
    )
    .await;
    assert!(started.is_err());
}

/// vestibule in front of an https fake backend, with `server_extra` in
/// `[server]`; the upstream's URL is https://localhost:PORT.
async fn in_front_of_https(backend: Upstream, server_extra: &str) -> Harness {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"https://localhost:{}\"\n\
         connect_timeout = \"2s\"\n{server_extra}\n\
         [[room]]\nname = \"registration\"\npaths = [\"/register\"]\ncapacity = 10\n[log]\naccess = \"off\"\n",
        backend.addr.port()
    );
    let config = vestibule::config::Config::parse(&text, Path::new("."), "test").unwrap_or_else(|e| panic!("{e}"));
    Harness::launch_with(backend, config).await
}

#[tokio::test]
async fn an_https_upstream_is_verified_and_its_connections_reused() {
    let pki = Pki::new();
    pki.leaf(&["localhost"], "backend");
    let backend = Upstream::start_tls(Some(pki.backend("backend", false))).await;
    let ca = pki.ca_file();
    let h = in_front_of_https(backend, &format!("upstream_ca_file = {ca:?}")).await;
    let v = h.visitor();
    for i in 0..20 {
        let r = v.get(&format!("/register?i={i}")).await;
        assert!(r.reached_upstream(), "{}", r.text());
        assert_eq!(
            r.json()["headers"]["host"],
            format!("localhost:{}", h.upstream.addr.port())
        );
        assert_eq!(r.json()["headers"]["x-forwarded-host"], h.running.addr().to_string());
    }
    assert_eq!(
        h.upstream.conns.load(Ordering::SeqCst),
        1,
        "twenty requests one after another, one TLS handshake"
    );
}

#[tokio::test]
async fn an_https_upstream_with_the_wrong_name_or_an_unknown_ca_is_refused() {
    let pki = Pki::new();
    pki.leaf(&["backend.other.test"], "backend");
    let backend = Upstream::start_tls(Some(pki.backend("backend", false))).await;
    let ca = pki.ca_file();
    let h = in_front_of_https(backend, &format!("upstream_ca_file = {ca:?}")).await;
    let r = h.visitor().get("/register").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert_eq!(h.upstream.total(), 0);
    assert_eq!(h.snapshot("registration").active, 0, "a failed exchange holds no slot");

    // The system's roots do not know the test CA.
    let pki = Pki::new();
    pki.leaf(&["localhost"], "backend");
    let backend = Upstream::start_tls(Some(pki.backend("backend", false))).await;
    let h = in_front_of_https(backend, "").await;
    assert_eq!(h.visitor().get("/register").await.status, StatusCode::BAD_GATEWAY);
    // Unless told to trust anything (and it says so loudly).
    let pki = Pki::new();
    pki.leaf(&["backend.other.test"], "backend");
    let backend = Upstream::start_tls(Some(pki.backend("backend", false))).await;
    let h = in_front_of_https(backend, "upstream_insecure_skip_verify = true").await;
    assert!(h.visitor().get("/register").await.reached_upstream());
}

#[tokio::test]
async fn an_mtls_upstream_gets_the_client_certificate() {
    let pki = Pki::new();
    pki.leaf(&["localhost"], "backend");
    let (cc, ck) = pki.leaf(&["vestibule.client.test"], "client");
    let ca = pki.ca_file();
    let backend = Upstream::start_tls(Some(pki.backend("backend", true))).await;
    let h = in_front_of_https(
        backend,
        &format!("upstream_ca_file = {ca:?}\nupstream_client_cert_file = {cc:?}\nupstream_client_key_file = {ck:?}"),
    )
    .await;
    assert!(h.visitor().get("/register").await.reached_upstream());
    assert_eq!(h.upstream.client_certs.load(Ordering::SeqCst), 1);

    // Without one, the backend refuses the handshake: a 502.
    let backend = Upstream::start_tls(Some(pki.backend("backend", true))).await;
    let h = in_front_of_https(backend, &format!("upstream_ca_file = {ca:?}")).await;
    assert_eq!(h.visitor().get("/register").await.status, StatusCode::BAD_GATEWAY);
    assert_eq!(h.upstream.total(), 0);
}

/// Over an https upstream: a chunked upload reaches it whole, a large
/// answer comes back whole, a WebSocket-style upgrade tunnels both ways,
/// and the connection is reused after answers with bodies.
#[tokio::test]
async fn an_https_upstream_carries_uploads_large_answers_and_upgrades() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    pki.leaf(&["localhost"], "backend");
    let backend = Upstream::start_tls(Some(pki.backend("backend", false))).await;
    let ca = pki.ca_file();
    let h = in_front_of_https(backend, &format!("upstream_ca_file = {ca:?}")).await;

    // A chunked upload of 1 MiB in uneven pieces, on a raw connection.
    let mut s = TcpStream::connect(h.running.addr()).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let mut sent = 0usize;
    for i in 0..64usize {
        let n = 16 * 1024 + (i % 3);
        s.write_all(format!("{n:x}\r\n").as_bytes()).await.unwrap();
        s.write_all(&vec![b'a'; n]).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
        sent += n;
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let head = support::raw::read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = vec![0u8; sent.to_string().len()];
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&body), sent.to_string(), "{head}");

    // Ten megabytes back, then the same connection again.
    let v = h.visitor();
    for _ in 0..2 {
        let r = v.get("/big").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body.len(), 160 * 64 * 1024);
        assert!(v.get("/register").await.reached_upstream());
    }
    // One connection for the upload, one for this visitor (reused).
    assert!(
        h.upstream.connections() <= 2,
        "{} connections",
        h.upstream.connections()
    );

    // A tunnel through the https upstream.
    let mut s = TcpStream::connect(h.running.addr()).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let head = support::raw::read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for msg in [&b"ping through the tunnel"[..], &b"and a second one"[..]] {
        s.write_all(msg).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(std::time::Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, msg);
    }
}

/// `max_connections` bounds the client connections of the process, plain
/// and TLS together: a TLS listener beside the plain one must not double
/// what an attacker can hold. A handshake that stalls is cut off at
/// `header_read_timeout`, giving its place back.
#[tokio::test]
async fn max_connections_counts_the_tls_listener_with_the_plain_one() {
    let pki = Pki::new();
    let (c, k) = pki.leaf(&["tickets.example.test"], "site");
    let text = tls_file(&format!("cert_file = {c:?}\nkey_file = {k:?}\n"), 10).replace(
        "upstream = ",
        "max_connections = 2\nheader_read_timeout = \"1500ms\"\nupstream = ",
    );
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &text).await;
    let tls_addr = h.running.tls_addr.unwrap();
    // Two plain clients and two TLS ones, each kept open: served at once,
    // no more than two (the others wait in the kernel's backlog).
    let short = std::time::Duration::from_millis(300);
    let mut served = 0;
    let mut held_plain = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(h.running.addr()).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        if let Ok(head) = tokio::time::timeout(short, support::raw::read_head(&mut s)).await {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            served += 1;
        }
        held_plain.push(s);
    }
    let mut held_tls = Vec::new();
    for _ in 0..2 {
        let hs = handshake(&pki, tls_addr, "tickets.example.test", &[b"http/1.1"]);
        if let Ok(Ok((io, _, _))) = tokio::time::timeout(short, hs).await {
            served += 1;
            held_tls.push(io);
        }
    }
    assert!(
        served <= 2,
        "{served} connections served at once with max_connections = 2"
    );
    drop(held_plain);
    drop(held_tls);

    // A client that opens the TLS port and never says hello is cut off
    // at header_read_timeout, and counted.
    let mut stalled = TcpStream::connect(tls_addr).await.unwrap();
    let t0 = std::time::Instant::now();
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut stalled, &mut b),
    )
    .await
    .expect("closed within the quiet limit")
    .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(t0.elapsed() < std::time::Duration::from_secs(3));
    eventually(5, "the stalled handshake is counted", async || {
        metric(
            &h.metrics().await,
            "vestibule_client_errors_total{kind=\"tls_handshake\"}",
        ) >= 1.0
    })
    .await;
}

/// A renewal written in two steps, the certificate before its key: the
/// half-written pair is refused (the old one served), and the whole one
/// is served once the key lands, without a signal. Meanwhile the
/// waiting page, the status poll and leaving all set Secure cookies.
#[tokio::test]
async fn a_renewal_written_certificate_first_is_served_once_its_key_lands() {
    let pki = Pki::new();
    let (c, k) = pki.leaf(&["tickets.example.test"], "site");
    let text = tls_file(&format!("cert_file = {c:?}\nkey_file = {k:?}\n"), 1);
    let h = Harness::from_file(Upstream::start().await, pki.dir.path(), &text).await;
    let addr = h.running.tls_addr.unwrap();

    let (rc, rk) = pki.leaf(&["tickets.example.test", "renewed.example.test"], "renewed");
    std::fs::copy(&rc, &c).unwrap();
    eventually(10, "the half renewal is refused", async || {
        h.metrics()
            .await
            .contains("vestibule_tls_certificate_reloads_total{result=\"error\"} 1")
    })
    .await;
    let (_, names, _) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(names.len(), 1, "the old pair is still served");
    std::fs::copy(&rk, &k).unwrap();
    eventually(10, "the renewal is served once its key lands", async || {
        handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
            .await
            .is_ok_and(|(_, n, _)| n.len() == 2)
    })
    .await;

    // Every cookie set over TLS is Secure: the one admitted...
    let (io, _, _) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .unwrap();
    let mut first = h1(io).await;
    let (_, headers, _) = get(&mut first, "tickets.example.test", "/register").await;
    assert!(headers["set-cookie"].to_str().unwrap().contains("; Secure"));
    // ...the one who waits, their status poll, and leaving.
    let (io, _, _) = handshake(&pki, addr, "tickets.example.test", &[b"http/1.1"])
        .await
        .unwrap();
    let mut second = h1(io).await;
    let (_, headers, page) = get(&mut second, "tickets.example.test", "/register").await;
    let ticket = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(ticket.contains("; Secure"), "waiting page: {ticket}\n{page}");
    let crumb = ticket.split(';').next().unwrap().to_string();
    let poll = Request::get("/_vestibule/status?room=registration")
        .header("host", "tickets.example.test")
        .header("cookie", &crumb)
        .body(Empty::new())
        .unwrap();
    let resp = second.send_request(poll).await.unwrap();
    for v in resp.headers().get_all("set-cookie") {
        assert!(v.to_str().unwrap().contains("; Secure"), "status: {v:?}");
    }
    resp.into_body().collect().await.unwrap();
    let leave = Request::get("/_vestibule/leave?room=registration")
        .header("host", "tickets.example.test")
        .header("cookie", &crumb)
        .body(Empty::new())
        .unwrap();
    let resp = second.send_request(leave).await.unwrap();
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("; Secure"), "leave: {cleared}");
}

/// An https backend that sends more than its answer (a HEAD answered
/// with a body, a wrong Content-Length): on a plain connection those
/// bytes wait on the socket and the connection is not used again. Over
/// TLS they may already sit decrypted in the TLS layer, where a look at
/// the socket does not see them: the connection must not be reused, or
/// the next visitor gets the stale bytes as their answer.
#[tokio::test]
async fn bytes_past_an_https_answer_never_become_the_next_visitors_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    pki.leaf(&["localhost"], "backend");
    let acceptor = pki.backend("backend", false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Only the very first answer overflows.
    let overflowed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, overflowed) = (acceptor.clone(), overflowed.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                loop {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read(&mut b).await {
                            Ok(1) => head.push(b[0]),
                            _ => return,
                        }
                    }
                    let out = if !overflowed.swap(true, Ordering::SeqCst) {
                        // An answer of exactly 8 KiB (one read of the
                        // proxy's), then an answer nobody asked for.
                        let head = |n: usize| format!("HTTP/1.1 200 OK\r\ncontent-length: {n:04}\r\n\r\n");
                        let n = 8192 - head(0).len();
                        let mut out = head(n).into_bytes();
                        out.extend(std::iter::repeat_n(b'a', n));
                        out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nSTALE");
                        out
                    } else {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh".to_vec()
                    };
                    if s.write_all(&out).await.is_err() || s.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let ca = pki.ca_file();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"https://localhost:{port}\"\n\
         upstream_ca_file = {ca:?}\n[log]\naccess = \"off\"\n"
    );
    let config = vestibule::config::Config::parse(&text, Path::new("."), "test").unwrap();
    let h = Harness::launch_with(Upstream::start().await, config).await;
    let v = h.visitor();
    let first = v.get("/a").await;
    assert!(first.body.iter().all(|&b| b == b'a') && first.body.len() > 8000);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = h.visitor().get("/b").await;
    assert_eq!(second.text(), "fresh", "the second visitor got another answer's bytes");
}

/// `check` catches a TLS listener on the plain or the admin listener's
/// port, which would otherwise stop the start with "address in use".
#[test]
fn a_tls_listener_on_another_listeners_port_is_a_config_problem() {
    let parse = |listen: &str| {
        vestibule::config::Config::parse(
            &format!(
                "[server]\nlisten = \"0.0.0.0:8080\"\nadmin_listen = \"127.0.0.1:9090\"\nupstream = \"http://127.0.0.1:1\"\n\
                 [server.tls]\nlisten = \"{listen}\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n"
            ),
            Path::new("."),
            "t",
        )
    };
    for bad in ["0.0.0.0:8080", "127.0.0.1:8080", "127.0.0.1:9090", "0.0.0.0:9090"] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.problems[0].key, "server.tls.listen", "{bad}: {e}");
    }
    assert!(parse("0.0.0.0:8443").is_ok());
}
