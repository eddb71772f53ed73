use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml", env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[test]
fn embedded_defaults_are_valid_and_loopback() {
    let c = load("", &[]).expect("defaults must validate");
    assert!(c.server.bind.ip().is_loopback());
    assert_eq!(c.server.bind.port(), 8000);
    assert_eq!(c.auth.mode, AuthMode::Local);
}

#[test]
fn no_auth_on_a_public_bind_is_refused_with_the_reason() {
    let err =
        load("[server]\nbind = \"0.0.0.0:8000\"\n[auth]\nmode = \"none\"\n", &[]).unwrap_err().to_string();
    assert!(err.contains("auth.mode"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert!(err.contains("0.0.0.0:8000"), "{err}");
}

#[test]
fn unknown_keys_are_named() {
    let err = load("[server]\nbnd = \"127.0.0.1:1\"\n", &[]).unwrap_err().to_string();
    assert!(err.contains("bnd"), "{err}");
}

#[test]
fn env_overrides_win_over_the_file_and_are_typed() {
    let c = load(
        "[server]\nbind = \"127.0.0.1:1\"\n",
        &[("WARDEN__SERVER__BIND", "127.0.0.1:9001"), ("WARDEN__RUNTIME__MAX_INSTANCES", "7")],
    )
    .unwrap();
    assert_eq!(c.server.bind.port(), 9001);
    assert_eq!(c.runtime.max_instances, 7);
}

#[test]
fn malformed_env_override_is_named() {
    let err = load("", &[("WARDEN__BIND", "x")]).unwrap_err().to_string();
    assert!(err.contains("WARDEN__BIND"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = load("[runtime]\nmax_instances = 0\ndefault_memory_mb = 9999\n[plugins]\npage_size = 0\n", &[])
        .unwrap_err();
    let ConfigError::Invalid(problems) = err else { panic!("expected Invalid, got {err:?}") };
    let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"runtime.max_instances"), "{fields:?}");
    assert!(fields.contains(&"runtime.default_memory_mb"), "{fields:?}");
    assert!(fields.contains(&"plugins.page_size"), "{fields:?}");
    assert!(problems.iter().all(|p| !p.fix.is_empty()));
}

#[test]
fn example_file_parses() {
    let text = include_str!("../../../server.toml.example");
    load(text, &[]).expect("server.toml.example must stay valid");
}

#[test]
fn auth0_without_audience_is_refused_with_the_reason() {
    let err = load("[auth]\nmode = \"jwt\"\ndomain = \"t.auth0.com\"\n", &[]).unwrap_err().to_string();
    assert!(err.contains("auth.audience") && err.contains("client id"), "{err}");
}

#[test]
fn jwt_mode_needs_an_issuer_and_refuses_symmetric_algorithms() {
    let err = load("[auth]\nmode = \"jwt\"\nalgorithms = [\"HS256\"]\n", &[]).unwrap_err().to_string();
    assert!(err.contains("auth.issuer"), "{err}");
    assert!(err.contains("\"HS256\" is not accepted"), "{err}");
}

#[test]
fn partial_oauth_settings_are_refused() {
    let err = load("[auth]\nmode = \"local\"\njwks_uri = \"https://x/jwks\"\n", &[]).unwrap_err().to_string();
    assert!(err.contains("partial OAuth settings"), "{err}");
}

#[test]
fn auth0_domain_sets_the_issuer() {
    let c =
        load("[auth]\nmode = \"jwt\"\ndomain = \"t.auth0.com\"\naudience = \"https://api\"\n", &[]).unwrap();
    let bound = "127.0.0.1:1".parse().unwrap();
    assert_eq!(c.issuer(bound).as_deref(), Some("https://t.auth0.com/"));
    assert_eq!(c.audience(bound), "https://api");
}

#[test]
fn introspection_needs_its_endpoint_and_credentials() {
    let err =
        load("[auth]\nmode = \"introspection\"\nissuer = \"https://idp\"\n", &[]).unwrap_err().to_string();
    assert!(err.contains("auth.introspection_url") && err.contains("auth.introspection_client_id"), "{err}");
    assert!(err.contains("WARDEN__AUTH__INTROSPECTION_CLIENT_SECRET"), "{err}");
    let ok = load(
        "[auth]\nmode = \"introspection\"\nintrospection_url = \"https://idp/introspect\"\nintrospection_client_id = \"w\"\n",
        &[("WARDEN__AUTH__INTROSPECTION_CLIENT_SECRET", "s3cret")],
    )
    .unwrap();
    assert_eq!(ok.auth.introspection_client_secret.as_ref().map(Secret::expose), Some("s3cret"));
    assert!(!format!("{ok:?}").contains("s3cret"), "Debug must not show the secret");
}

#[test]
fn database_misconfigurations_are_all_named_with_a_fix() {
    let err = load(
        "[database]\nconnection_string = \"env:WARDEN_TEST_SURELY_UNSET_VAR\"\ndialect = \"mysql\"\n\
         impersonation = \"set-role\"\npool_size = 0\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    for needle in
        ["database.pool_size", "database.impersonation", "PostgreSQL", "WARDEN_TEST_SURELY_UNSET_VAR"]
    {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
    let err = load("[database]\nconnection_string = \"Driver=x;\"\nimpersonation = \"custom\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("database.impersonate_statement") && err.contains("database.current_user_query"),
        "{err}"
    );
    let err = load("[database]\nimpersonation = \"set-role\"\ndialect = \"postgresql\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("embedded SQLite demo"), "{err}");
    let err = load(
        "[database]\nconnection_string = \"Driver=x;\"\npassword = \"env:WARDEN_TEST_NO_SUCH_PW\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("- database.password: ") && err.contains("WARDEN_TEST_NO_SUCH_PW"), "{err}");
    assert!(!err.contains("database.connection_string"), "the problem is blamed on the wrong field: {err}");
}

#[test]
fn database_password_reference_is_resolved_and_braced() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "p;w}d\n").unwrap();
    let c = load(
        &format!(
            "[database]\nconnection_string = \"Driver=x;Uid=u\"\npassword = \"file:{}\"\n",
            secret.display()
        ),
        &[],
    )
    .unwrap();
    let resolved = c.database.resolved_connection_string(Path::new("/tmp")).unwrap();
    assert_eq!(resolved, "Driver=x;Uid=u;PWD={p;w}}d};");
    assert!(!format!("{:?}", c.database).contains("p;w"), "the password reached Debug output");
}

#[test]
fn tls_and_team_misconfigurations_are_all_named_with_a_fix() {
    let text = r#"
        [server]
        public_url = "http://mcp.example.com"
        bind = "127.0.0.1:8000"
        admin_bind = "127.0.0.1:8000"
        request_state_key = "abcd"
        [server.tls]
        cert = "/nonexistent/cert.pem"
        key = "/nonexistent/key.pem"
        [limits]
        caller_calls_per_s = 10
        caller_burst = 5
        [[teams]]
        name = "Sales Team"
        plugins_dir = "run/plugins"
        scope_prefix = ""
        member_claim = "org_id"
        members = []
        max_memory_mb = 100000
        require_signatures = true
        [[teams]]
        name = "ops"
        plugins_dir = "run/ops"
        scope_prefix = "ops:"
        resource_prefix = "Sales Team://x"
        member_claim = "groups"
        members = ["ops"]
        trusted_keys = ["not a key", "env:WARDEN_TEST_NO_SUCH_VARIABLE"]
    "#;
    let err = load(text, &[]).unwrap_err().to_string();
    for needle in [
        "server.public_url",
        "https",
        "server.tls.cert",
        "server.tls.key",
        "server.admin_bind",
        "limits.caller_burst",
        "teams[0].name",
        "teams[0].plugins_dir",
        "teams[0].scope_prefix",
        "teams[0].members",
        "teams[0].max_memory_mb",
        "teams[0].trusted_keys",
        "teams[1].trusted_keys[0]",
        "teams[1].trusted_keys[1]",
        "WARDEN_TEST_NO_SUCH_VARIABLE",
        "teams[1].resource_prefix",
        "server.request_state_key",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn introspection_secret_may_be_a_reference() {
    let base = "[auth]\nmode = \"introspection\"\nintrospection_url = \"https://idp/introspect\"\nintrospection_client_id = \"warden\"\n";
    let err = load(&format!("{base}introspection_client_secret = \"env:WARDEN_TEST_UNSET_SECRET\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("auth.introspection_client_secret") && err.contains("WARDEN_TEST_UNSET_SECRET"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "s3cret\n").unwrap();
    let ok = load(&format!("{base}introspection_client_secret = \"file:{}\"\n", file.display()), &[]);
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn http_settings_are_checked_naming_the_field_and_the_fix() {
    let text = "[http]\nallow_cidrs = [\"10.0.0.0/8\", \"not-a-range\"]\nmax_requests_per_call = 0\n\
                ca_bundle = \"/nonexistent/ca.pem\"\n[http.secrets]\ncrm = \"env:WARDEN_TEST_UNSET_SECRET\"\n";
    let err = load(text, &[]).unwrap_err().to_string();
    for expected in [
        "http.allow_cidrs[1]",
        "not a CIDR range",
        "http.max_requests_per_call",
        "http.ca_bundle",
        "http.secrets.crm",
        "WARDEN_TEST_UNSET_SECRET",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let ok = load("[http]\nallow_cidrs = [\"127.0.0.1/32\"]\n[http.secrets]\ncrm = \"literal-value\"\n", &[])
        .unwrap();
    assert_eq!(ok.http.allow_cidrs, ["127.0.0.1/32"]);
}
