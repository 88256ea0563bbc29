//! Users, RBAC and the review APIs, driven by the real `kubectl auth can-i` (a
//! `SelfSubjectAccessReview`), `kubectl auth can-i --list` (a `SelfSubjectRulesReview`),
//! `kubectl auth whoami` (a `SelfSubjectReview`), impersonation (`--as`, `--as-group`) and
//! `SubjectAccessReview`s created with `kubectl create`.

use crate::cli::Cluster;

/// `kubectl auth can-i ARGS`: `true` for "yes" (exit 0), `false` for "no" (exit 1).
fn can_i(c: &Cluster, args: &[&str]) -> bool {
    let mut a = vec!["auth", "can-i"];
    a.extend_from_slice(args);
    let o = c.kubectl(&a, None);
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    match (o.status.code(), out.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        other => panic!(
            "kubectl {a:?}: {other:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

#[test]
fn kubectl_auth_can_i_follows_cluster_role_bindings_roles_and_service_accounts() {
    let c = Cluster::start();
    // The administrator may do anything; an ordinary user only what the bootstrap policy
    // grants every authenticated user (self reviews, discovery).
    assert!(can_i(&c, &["get", "secrets", "-n", "kube-system"]));
    assert!(can_i(&c, &["*", "*", "--all-namespaces"]));
    assert!(!can_i(
        &c,
        &["get", "secrets", "-n", "kube-system", "--as", "alice"]
    ));
    assert!(can_i(
        &c,
        &["create", "selfsubjectaccessreviews", "--as", "alice"]
    ));

    // A ClusterRoleBinding to system:authenticated gives every user the role.
    c.ok(
        &[
            "create",
            "clusterrole",
            "secret-reader",
            "--verb=get,list",
            "--resource=secrets",
        ],
        None,
    );
    c.ok(
        &[
            "create",
            "clusterrolebinding",
            "everyone-reads-secrets",
            "--clusterrole=secret-reader",
            "--group=system:authenticated",
        ],
        None,
    );
    assert!(can_i(
        &c,
        &["get", "secrets", "-n", "kube-system", "--as", "alice"]
    ));
    assert!(can_i(
        &c,
        &["list", "secrets", "--all-namespaces", "--as", "bob"]
    ));
    assert!(!can_i(
        &c,
        &["delete", "secrets", "-n", "kube-system", "--as", "alice"]
    ));
    assert!(!can_i(
        &c,
        &["get", "configmaps", "-n", "kube-system", "--as", "alice"]
    ));

    // A Role with resourceNames, bound to a service account in one namespace.
    c.ok(&["create", "namespace", "team"], None);
    c.ok(
        &[
            "create",
            "role",
            "one-config",
            "-n",
            "team",
            "--verb=get,update",
            "--resource=configmaps",
            "--resource-name=settings",
        ],
        None,
    );
    c.ok(
        &[
            "create",
            "rolebinding",
            "robot-config",
            "-n",
            "team",
            "--role=one-config",
            "--serviceaccount=team:robot",
        ],
        None,
    );
    let robot = "system:serviceaccount:team:robot";
    assert!(can_i(
        &c,
        &["update", "configmaps/settings", "-n", "team", "--as", robot]
    ));
    assert!(!can_i(
        &c,
        &["update", "configmaps/other", "-n", "team", "--as", robot]
    ));
    assert!(!can_i(
        &c,
        &[
            "update",
            "configmaps/settings",
            "-n",
            "default",
            "--as",
            robot
        ]
    ));
    assert!(!can_i(
        &c,
        &[
            "update",
            "configmaps/settings",
            "-n",
            "team",
            "--as",
            "alice"
        ]
    ));
    // A group given with --as-group counts.
    assert!(can_i(
        &c,
        &[
            "get",
            "secrets",
            "-n",
            "x",
            "--as",
            "carol",
            "--as-group",
            "system:authenticated"
        ]
    ));

    // Requests as an impersonated user are authorized: the real server's 403 message.
    let err = c.fails(
        &[
            "delete", "secret", "nothing", "-n", "default", "--as", "alice",
        ],
        None,
    );
    assert!(
        err.contains(
            "secrets \"nothing\" is forbidden: User \"alice\" cannot delete resource \"secrets\" in API group \"\" in the namespace \"default\""
        ),
        "{err}"
    );
    // Reading is what the binding allows.
    c.ok(
        &["get", "secrets", "-n", "kube-system", "--as", "alice"],
        None,
    );

    // Removing the binding takes the permission away.
    c.ok(
        &["delete", "clusterrolebinding", "everyone-reads-secrets"],
        None,
    );
    assert!(!can_i(
        &c,
        &["get", "secrets", "-n", "kube-system", "--as", "alice"]
    ));
}

#[test]
fn kubectl_auth_can_i_list_reports_the_rules_of_a_namespace() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "team"], None);
    c.ok(
        &[
            "create",
            "role",
            "sealer",
            "-n",
            "team",
            "--verb=get,list,watch",
            "--resource=secrets",
        ],
        None,
    );
    c.ok(
        &[
            "create",
            "rolebinding",
            "dana-seals",
            "-n",
            "team",
            "--role=sealer",
            "--user=dana",
        ],
        None,
    );
    let out = c.ok(
        &["auth", "can-i", "--list", "-n", "team", "--as", "dana"],
        None,
    );
    let rows = crate::cli::table(&out);
    assert!(
        rows.iter()
            .any(|r| r.first().map(String::as_str) == Some("secrets")
                && r.last().map(String::as_str) == Some("[get list watch]")),
        "{out}"
    );
    // The bootstrap policy's self reviews, for every authenticated user.
    assert!(
        rows.iter().any(|r| r.first().map(String::as_str)
            == Some("selfsubjectaccessreviews.authorization.k8s.io")),
        "{out}"
    );
    // Another namespace does not have the Role's rules.
    let other = c.ok(
        &["auth", "can-i", "--list", "-n", "default", "--as", "dana"],
        None,
    );
    assert!(
        !crate::cli::table(&other)
            .iter()
            .any(|r| r.first().map(String::as_str) == Some("secrets")),
        "{other}"
    );
    // The administrator has everything.
    let admin = c.ok(&["auth", "can-i", "--list", "-n", "team"], None);
    assert!(
        crate::cli::table(&admin)
            .iter()
            .any(|r| r.first().map(String::as_str) == Some("*.*")),
        "{admin}"
    );
}

#[test]
fn subject_access_reviews_and_whoami() {
    let c = Cluster::start();
    c.ok(
        &[
            "create",
            "clusterrole",
            "secret-reader",
            "--verb=get",
            "--resource=secrets",
        ],
        None,
    );
    c.ok(
        &[
            "create",
            "clusterrolebinding",
            "ops-reads",
            "--clusterrole=secret-reader",
            "--group=ops",
        ],
        None,
    );
    let review = |user: &str, groups: &str| {
        format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"{user}","groups":{groups},"resourceAttributes":{{"verb":"get","resource":"secrets","namespace":"kube-system"}}}}}}"#
        )
    };
    let allowed: serde_json::Value = serde_json::from_str(&c.ok(
        &["create", "-f", "-", "-o", "json"],
        Some(&review("erin", r#"["ops"]"#)),
    ))
    .unwrap();
    assert_eq!(allowed["status"]["allowed"], true, "{allowed}");
    assert!(
        allowed["status"]["reason"].as_str().unwrap().contains(
            "ClusterRoleBinding \"ops-reads\" of ClusterRole \"secret-reader\" to Group \"ops\""
        ),
        "{allowed}"
    );
    let denied: serde_json::Value = serde_json::from_str(&c.ok(
        &["create", "-f", "-", "-o", "json"],
        Some(&review("erin", "[]")),
    ))
    .unwrap();
    assert_eq!(denied["status"]["allowed"], false, "{denied}");
    // Reviews are not stored: there is nothing to get.
    let err = c.fails(&["get", "subjectaccessreviews"], None);
    assert!(
        err.contains("MethodNotAllowed")
            || err.contains("not allowed")
            || err.contains("the server does not allow"),
        "{err}"
    );

    let me = c.ok(&["auth", "whoami", "-o", "json"], None);
    assert!(me.contains("\"username\": \"kubernetes-admin\""), "{me}");
    let alice = c.ok(
        &[
            "auth",
            "whoami",
            "-o",
            "json",
            "--as",
            "alice",
            "--as-group",
            "devs",
        ],
        None,
    );
    assert!(alice.contains("\"username\": \"alice\""), "{alice}");
    assert!(
        alice.contains("devs") && alice.contains("system:authenticated"),
        "{alice}"
    );
}

#[test]
fn unknown_resources_are_forbidden_before_they_are_not_found() {
    let c = Cluster::start();
    let path = "/apis/bitnami.com/v1alpha1/sealedsecrets";
    let (code, _, _) = c.http("GET", path, &[("Accept", "application/json")], b"");
    assert_eq!(code, 404, "the administrator learns it does not exist");
    let (code, _, body) = c.http(
        "GET",
        path,
        &[
            ("Accept", "application/json"),
            ("Impersonate-User", "alice"),
        ],
        b"",
    );
    assert_eq!(code, 403, "{}", String::from_utf8_lossy(&body));
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        status["message"],
        "sealedsecrets.bitnami.com is forbidden: User \"alice\" cannot list resource \"sealedsecrets\" in API group \"bitnami.com\" at the cluster scope"
    );
}
