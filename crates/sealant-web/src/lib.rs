//! The sealing page: one self-contained HTML page, its stylesheet and its JavaScript modules
//! (with a vendored YAML reader), which seal Secrets in the browser with WebCrypto. Values never
//! leave the browser: the page only fetches the public certificates (`v1/certs`, `v1/cert.pem`).
//!
//! The files live in `assets/` and are compiled into both binaries that serve them:
//! `sealant-controller` (at `/` beside its HTTP API, unless `--disable-web`) and `sealant web`
//! (offline, with certificates given on the command line, [`offline_router`]). Every URL in the
//! page is relative, so it also works behind the API server's service proxy
//! (`/api/v1/namespaces/NS/services/http:NAME:http/proxy/`).
//!
//! Every response of the page carries [`CONTENT_SECURITY_POLICY`]: scripts, styles and images
//! only from the page's own origin, no inline code, no plugins, no framing, requests only to
//! its own origin, Trusted Types with no policy (no HTML injection sinks).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sealant_crypto::Certificate;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

/// The page's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'; object-src 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// A file of the page.
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its contents.
    pub body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $file)),
        }
    };
}

/// Every file of the page, the page itself first.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!(
        "/assets/sealant.css",
        "sealant.css",
        "text/css; charset=utf-8"
    ),
    asset!("/assets/app.mjs", "app.mjs", JS),
    asset!("/assets/der.mjs", "der.mjs", JS),
    asset!("/assets/manifest.mjs", "manifest.mjs", JS),
    asset!("/assets/names.mjs", "names.mjs", JS),
    asset!("/assets/render.mjs", "render.mjs", JS),
    asset!("/assets/sealing.mjs", "sealing.mjs", JS),
    asset!("/assets/vendor/js-yaml.mjs", "vendor/js-yaml.mjs", JS),
    asset!(
        "/assets/vendor/js-yaml.LICENSE",
        "vendor/js-yaml.LICENSE",
        "text/plain; charset=utf-8"
    ),
    asset!("/assets/favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// Headers on every file of the page.
pub fn security_headers() -> [(HeaderName, HeaderValue); 8] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
            ),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

fn respond(asset: &'static Asset) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response();
    resp.headers_mut().extend(security_headers());
    resp
}

/// The page's routes (`/`, `/index.html` and `/assets/...`), GET only.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for asset in ASSETS {
        router = router.route(asset.path, get(move || async move { respond(asset) }));
    }
    router.route("/index.html", get(|| async { respond(&ASSETS[0]) }))
}

/// One entry of the `/v1/certs` answer.
pub struct CertEntry<'a> {
    /// The key id.
    pub key_id: &'a str,
    /// The RSA modulus size in bits.
    pub bits: usize,
    /// Whether this is the key new values are sealed with (what `/v1/cert.pem` serves).
    pub newest: bool,
    /// The key's certificate, when there is one.
    pub cert: Option<&'a Certificate>,
}

/// The `/v1/certs` document: `{"certificates": [...]}`, newest first, each with `keyId`,
/// `bits`, `newest` and, with a certificate, `notBefore`, `notAfter`, `subject`, `serial` and
/// the PEM `certificate`. Public material only.
pub fn certs_document<'a>(entries: impl IntoIterator<Item = CertEntry<'a>>) -> Value {
    let fmt = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let list: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut v = json!({"keyId": e.key_id, "bits": e.bits, "newest": e.newest});
            if let Some(c) = e.cert {
                v["notBefore"] = json!(fmt(c.not_before()));
                v["notAfter"] = json!(fmt(c.not_after()));
                v["subject"] = json!(c.subject());
                v["serial"] = json!(c.serial());
                v["certificate"] = json!(c.to_pem());
            }
            v
        })
        .collect();
    json!({ "certificates": list })
}

/// The page plus `/v1/cert.pem` and `/v1/certs` answered from `certs` (newest first), for
/// `sealant web`: sealing without a cluster.
pub fn offline_router(certs: Vec<Certificate>) -> Router {
    let certs = std::sync::Arc::new(certs);
    let pem = certs.first().map(Certificate::to_pem);
    let list = certs_document(certs.iter().enumerate().map(|(i, c)| CertEntry {
        key_id: c.key_id().as_str(),
        bits: c.public_key().bits(),
        newest: i == 0,
        cert: Some(c),
    }));
    let list = std::sync::Arc::new(list.to_string());
    router()
        .route(
            "/v1/cert.pem",
            get(move || async move {
                match pem {
                    Some(pem) => {
                        ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response()
                    }
                    None => (StatusCode::NOT_FOUND, "no certificate\n").into_response(),
                }
            }),
        )
        .route(
            "/v1/certs",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    list.as_str().to_owned(),
                )
                    .into_response()
            }),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn text(asset: &Asset) -> &str {
        std::str::from_utf8(asset.body).unwrap_or_default()
    }

    #[test]
    fn the_page_has_no_inline_code_and_only_relative_urls() {
        let html = text(&ASSETS[0]);
        assert!(html.contains("<script type=\"module\" src=\"assets/app.mjs\"></script>"));
        // No inline scripts, styles or event handlers (the CSP would block them).
        assert_eq!(html.matches("<script").count(), 1, "one script, by src");
        assert!(!html.contains("<style"), "no inline style element");
        assert!(!html.contains(" style="), "no style attributes");
        let lower = html.to_ascii_lowercase();
        for attr in [
            " onclick",
            " onload",
            " onerror",
            " onsubmit",
            " oninput",
            " onchange",
        ] {
            assert!(!lower.contains(attr), "inline handler {attr}");
        }
        assert!(!lower.contains("javascript:"));
        // Every src/href is relative: no scheme, no leading slash, no protocol-relative URL.
        for attr in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attr) {
                let url = &html[i + attr.len()..];
                assert!(
                    url.starts_with("assets/"),
                    "{attr}{} is not a relative URL of the page's own files",
                    &url[..url.find('"').unwrap_or(url.len())]
                );
            }
        }
    }

    #[test]
    fn every_module_import_is_a_served_relative_file() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".mjs")) {
            let dir = &asset.path[..asset.path.rfind('/').map_or(0, |i| i + 1)];
            let body = text(asset);
            for line in body.lines().filter(|l| l.contains(" from \"")) {
                let spec = line
                    .split(" from \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next());
                let Some(spec) = spec else { continue };
                assert!(
                    spec.starts_with("./"),
                    "{}: import {spec:?} is not a relative file",
                    asset.path
                );
                let target = format!("{dir}{}", &spec[2..]);
                assert!(
                    served.contains(&target.as_str()),
                    "{}: imports {target}, which is not served",
                    asset.path
                );
            }
            // No request other than the certificates, no dynamic code.
            for banned in [
                "eval(",
                "new Function",
                "XMLHttpRequest",
                "sendBeacon",
                "WebSocket",
            ] {
                assert!(!body.contains(banned), "{}: uses {banned}", asset.path);
            }
        }
        let fetches: Vec<&str> = ASSETS
            .iter()
            .flat_map(|a| text(a).match_indices("fetch").map(|(i, _)| &text(a)[i..]))
            .filter(|s| s.starts_with("fetchText(\"") || s.starts_with("fetch("))
            .map(|s| &s[..s.find(')').unwrap_or(s.len())])
            .collect();
        assert_eq!(
            fetches,
            vec![
                "fetch(path, { cache: \"no-store\", credentials: \"same-origin\", redirect: \"error\" }",
                "fetchText(\"v1/certs\", MAX_CERTS_RESPONSE",
                "fetchText(\"v1/cert.pem\", MAX_CERT_BYTES * 2",
            ],
            "the page fetches only the certificates"
        );
    }

    async fn get(router: Router, path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap_or_default();
        let resp = router.oneshot(req).await.unwrap_or_else(|e| match e {});
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes().to_vec());
        (parts.status, parts.headers, body.unwrap_or_default())
    }

    fn test_cert() -> Certificate {
        let pem = include_bytes!("../../../testdata/vectors/cert-4096.pem");
        Certificate::from_pem(pem).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn every_file_is_served_with_its_type_and_the_policy() {
        for asset in ASSETS {
            let (status, headers, body) = get(router(), asset.path).await;
            assert_eq!(status, StatusCode::OK, "{}", asset.path);
            assert_eq!(body, asset.body, "{}", asset.path);
            assert_eq!(headers[header::CONTENT_TYPE], asset.content_type);
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        }
        let (status, _, body) = get(router(), "/index.html").await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, ASSETS[0].body));
        for missing in [
            "/assets/",
            "/assets/../Cargo.toml",
            "/assets/app.js",
            "/src/lib.rs",
        ] {
            assert_eq!(
                get(router(), missing).await.0,
                StatusCode::NOT_FOUND,
                "{missing}"
            );
        }
    }

    #[tokio::test]
    async fn the_offline_router_answers_the_certificate_endpoints() {
        let cert = test_cert();
        let app = offline_router(vec![cert.clone()]);
        let (status, headers, body) = get(app.clone(), "/v1/cert.pem").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/x-pem-file");
        assert_eq!(body, cert.to_pem().as_bytes());
        let (status, _, body) = get(app.clone(), "/v1/certs").await;
        assert_eq!(status, StatusCode::OK);
        let doc: Value = serde_json::from_slice(&body).unwrap_or_default();
        let list = doc["certificates"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["keyId"], cert.key_id().as_str());
        assert_eq!(list[0]["newest"], true);
        assert_eq!(list[0]["bits"], 4096);
        assert_eq!(list[0]["certificate"], cert.to_pem());
        assert_eq!(list[0]["notAfter"], "2036-11-19T05:32:38Z");
        assert_eq!(get(app, "/").await.0, StatusCode::OK);
        let (status, _, _) = get(offline_router(Vec::new()), "/v1/cert.pem").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_policy_is_strict() {
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ] {
            assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
