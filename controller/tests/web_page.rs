//! The sealing page on the HTTP API port: served with its security headers beside the API, and
//! gone with `--disable-web` while the API stays.
#![allow(clippy::unwrap_used)]

use crate::common::*;

#[tokio::test]
async fn the_page_is_served_with_its_policy_and_can_be_turned_off() {
    let (_server, client, ctl) = setup().await;
    let (code, head, body) = http(ctl.http_addr, "GET", "/", &[], b"").await;
    assert_eq!(code, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains(&format!(
            "content-security-policy: {}",
            sealant_web::CONTENT_SECURITY_POLICY.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(body.contains("<script type=\"module\" src=\"assets/app.mjs\"></script>"));
    for asset in sealant_web::ASSETS {
        let (code, _, _) = http(ctl.http_addr, "GET", asset.path, &[], b"").await;
        assert_eq!(code, 200, "{}", asset.path);
    }
    // The page's routes are GET only; the API is unchanged beside them.
    let (code, _, _) = http(ctl.http_addr, "POST", "/", &[], b"x").await;
    assert_eq!(code, 405);
    let (code, _, _) = http(ctl.http_addr, "GET", "/v1/certs", &[], b"").await;
    assert_eq!(code, 200);
    drop(ctl);

    let off = controller(&client, &["--disable-web"]).await;
    for path in ["/", "/index.html", "/assets/app.mjs"] {
        let (code, _, body) = http(off.http_addr, "GET", path, &[], b"").await;
        assert_eq!(code, 404, "{path}: {body}");
    }
    let (code, _, _) = http(off.http_addr, "GET", "/v1/cert.pem", &[], b"").await;
    assert_eq!(code, 200);
}
