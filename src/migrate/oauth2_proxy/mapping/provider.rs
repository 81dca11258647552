//! The provider (`[oidc]`) and who may pass (`[authorization]`).

use super::{Builder, Setting, at, at_all, flag, string, strings, text};

pub(super) fn provider(b: &mut Builder) {
    let provider = b.settings.take("provider");
    let kind = provider
        .as_ref()
        .map(text)
        .unwrap_or_else(|| "google".into());
    b.provider_kind = Some(kind.clone());
    let issuer = b.settings.take("oidc_issuer_url");
    let client_id = b.settings.take("client_id");
    let secret = b.settings.take("client_secret");
    let secret_file = b.settings.take("client_secret_file");
    let scope = b.settings.take("scope");
    let groups_claim = b.settings.take("oidc_groups_claim");
    let email_claim = b.settings.take("oidc_email_claim");
    let user_id_claim = b.settings.take("user_id_claim");
    let prefer_email = b.settings.take("prefer_email_to_user");
    let unverified = b.settings.take("insecure_oidc_allow_unverified_email");
    let bearer = b.settings.take("skip_jwt_bearer_tokens");
    let audiences = b.settings.take("oidc_extra_audiences");
    let audience_claims = b.settings.take("oidc_audience_claims");
    let ca_files = b.settings.take("provider_ca_files");
    let pkce = b.settings.take("code_challenge_method");
    let pkce_forced = b.settings.take("force_code_challenge_method");
    let button = b.settings.take("skip_provider_button");
    let pass_token = b.settings.take("pass_access_token");

    let supported = matches!(kind.as_str(), "oidc" | "keycloak-oidc");
    if !supported {
        let place = provider.as_ref().map(at).unwrap_or_default();
        let text = match (kind.as_str(), &provider) {
            (_, None) => "no provider given: oauth2-proxy then signs in with Google, which Sekisho \
                          does not have; Sekisho signs in over OpenID Connect (keycloak-oidc, oidc) \
                          or SAML"
                .to_owned(),
            ("keycloak", _) => "`keycloak` (the legacy Keycloak provider): Sekisho talks to \
                                Keycloak over OpenID Connect; use keycloak-oidc with \
                                oidc_issuer_url = https://<keycloak>/realms/<realm>"
                .to_owned(),
            (other, _) => format!(
                "`{other}`: Sekisho has no such provider; it signs in over OpenID Connect \
                 (keycloak-oidc, oidc) or SAML, e.g. at a Keycloak realm brokering {other}"
            ),
        };
        b.error(place, text);
    }
    let section = "oidc";
    let provider_from: Vec<&Setting> = provider.iter().collect();
    match (&issuer, supported) {
        (Some(issuer), true) => {
            let mut from = provider_from.clone();
            from.push(issuer);
            b.set(section, "issuer_url", string(text(issuer)), &from, &[]);
        }
        (None, true) => b.error(
            provider.as_ref().map(at).unwrap_or_default(),
            format!("{kind} without oidc_issuer_url: Sekisho needs the issuer (https://<keycloak>/realms/<realm>)"),
        ),
        _ => {}
    }
    if !supported {
        return;
    }
    match &client_id {
        Some(id) => b.set(section, "client_id", string(text(id)), &[id], &[]),
        None => b.error(
            provider.as_ref().map(at).unwrap_or_default(),
            "no client_id: Sekisho needs the client's id at the provider",
        ),
    }
    let secret_from: Vec<&Setting> = secret.iter().chain(secret_file.iter()).collect();
    let where_secret = if secret_from.is_empty() {
        "oauth2-proxy's client secret".to_owned()
    } else if let Some(file) = &secret_file {
        format!("the client secret in {} ({})", text(file), at(file))
    } else {
        format!("the client secret of {}", at_all(&secret_from))
    };
    b.plan.secrets.push((
        "SEKISHO_OIDC__CLIENT_SECRET",
        format!("{where_secret}; never written to this file"),
    ));

    // oauth2-proxy's user is the subject.
    let mut user_why = vec![
        "oauth2-proxy's user (X-Auth-Request-User) is the `sub` claim; Sekisho's default is \
         preferred_username, which oauth2-proxy sent as X-Auth-Request-Preferred-Username",
    ];
    let mut user_claim = "sub".to_owned();
    let email = match &user_id_claim {
        Some(u) if text(u) != "email" => Some(u),
        _ => email_claim.as_ref(),
    };
    let email_name = email.map(text).unwrap_or_else(|| "email".into());
    let mut user_from: Vec<&Setting> = Vec::new();
    if flag(prefer_email.as_ref()) == Some(true) {
        user_claim = email_name.clone();
        user_why = vec!["prefer_email_to_user: the user is the email address"];
        user_from.extend(prefer_email.iter());
    } else if let Some(p) = &prefer_email {
        user_from.push(p);
    }
    b.set(
        section,
        "user_claim",
        string(user_claim),
        &user_from,
        &user_why,
    );
    let email_from: Vec<&Setting> = email_claim.iter().chain(user_id_claim.iter()).collect();
    if !email_from.is_empty() {
        b.set(
            section,
            "email_claim",
            string(email_name),
            &email_from,
            &["user_id_claim is oauth2-proxy's older name for the email claim"]
                [..usize::from(user_id_claim.is_some())],
        );
    }
    if let Some(g) = &groups_claim {
        b.set(section, "groups_claim", string(text(g)), &[g], &[]);
    }
    match &scope {
        Some(s) => {
            let mut scopes: Vec<String> = text(s).split_whitespace().map(str::to_owned).collect();
            let mut why = Vec::new();
            if !scopes.iter().any(|x| x == "openid") {
                scopes.insert(0, "openid".into());
                why.push("openid added: Sekisho signs in over OpenID Connect");
            }
            b.set(section, "scopes", strings(&scopes), &[s], &why);
        }
        None if kind == "oidc" && b.settings.peek("allowed_groups").is_some() => b.set(
            section,
            "scopes",
            strings(&[
                "openid".into(),
                "email".into(),
                "profile".into(),
                "groups".into(),
            ]),
            &provider_from,
            &["oauth2-proxy asks for `groups` too with provider oidc and allowed_groups"],
        ),
        None => {}
    }
    if let Some(u) = &unverified {
        b.set(
            section,
            "allow_unverified_email",
            toml::Value::Boolean(flag(Some(u)).unwrap_or(false)),
            &[u],
            &[],
        );
    }
    if let Some(t) = &pass_token {
        b.set(
            section,
            "pass_access_token",
            toml::Value::Boolean(flag(Some(t)).unwrap_or(false)),
            &[t],
            &["true: the access token goes along as X-Auth-Request-Access-Token"],
        );
    }
    if let Some(t) = &bearer {
        let on = flag(Some(t)).unwrap_or(false);
        b.set(
            section,
            "accept_bearer_tokens",
            toml::Value::Boolean(on),
            &[t],
            &[],
        );
        if on {
            b.warn(
                at(t),
                "Sekisho accepts `Authorization: Bearer` access tokens of its issuer, signed with \
                 the issuer's keys, whose `aud` or `azp` names oidc.bearer_audiences (the client \
                 id); oauth2-proxy verified them as ID tokens for the client id",
            );
        }
    }
    if let Some(a) = &audiences {
        let mut list = vec![client_id.as_ref().map(text).unwrap_or_default()];
        list.extend(a.value.items());
        list.retain(|s| !s.is_empty());
        b.set(
            section,
            "bearer_audiences",
            strings(&list),
            &[a],
            &["the client id and oauth2-proxy's extra audiences"],
        );
        b.warn(
            at(a),
            "Sekisho accepts the extra audiences for bearer tokens only; an ID token from sign-in \
             must still name the client id",
        );
    }
    if let Some(c) = &audience_claims {
        if c.value.items() != ["aud"] {
            b.warn(
                at(c),
                "ignored: Sekisho checks `aud` (and `azp` for bearer tokens)",
            );
        } else {
            b.note(at(c), "Sekisho checks `aud` too");
        }
    }
    if let Some(ca) = &ca_files {
        match ca.value.items().as_slice() {
            [] => {}
            [one] => b.set(section, "ca_file", string(one.clone()), &[ca], &[]),
            many => b.error(
                at(ca),
                format!(
                    "{} files: Sekisho reads one CA bundle (oidc.ca_file): concatenate them into one PEM file",
                    many.len()
                ),
            ),
        }
    }
    for p in pkce.iter().chain(pkce_forced.iter()) {
        if text(p).eq_ignore_ascii_case("S256") {
            b.note(at(p), "Sekisho always uses PKCE with S256");
        } else {
            b.warn(
                at(p),
                format!("`{}`: Sekisho always uses PKCE with S256", text(p)),
            );
        }
    }
    if let Some(p) = &button {
        b.note(
            at(p),
            "Sekisho has no sign-in button: it sends browsers straight to the provider",
        );
    }
}

pub(super) fn authorization(b: &mut Builder) {
    let domains = b.settings.take("email_domains");
    let groups = b.settings.take("allowed_groups");
    let keycloak_groups = b.settings.take("keycloak_groups");
    let roles = b.settings.take("allowed_roles");
    let provider = b.provider_kind.clone();
    match &domains {
        Some(d) => {
            let items = d.value.items();
            if items.iter().any(|x| x == "*") {
                b.note(
                    at(d),
                    "`*`: any address, as Sekisho's default (no allowed_email_domains)",
                );
            } else {
                let wild: Vec<&String> = items
                    .iter()
                    .filter(|x| x.starts_with('.') || x.starts_with("*."))
                    .collect();
                if !wild.is_empty() {
                    b.error(
                        at(d),
                        format!(
                            "{}: Sekisho matches an address's domain exactly, with no subdomain \
                             wildcard; list each domain",
                            wild.iter()
                                .map(|w| format!("`{w}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                } else {
                    b.set(
                        "authorization",
                        "allowed_email_domains",
                        strings(&items),
                        &[d],
                        &["only addresses the provider marks email_verified count, as with oauth2-proxy"],
                    );
                }
            }
        }
        None => b.warn(
            String::new(),
            "no email_domains: oauth2-proxy refuses to start without it (or \
             authenticated_emails_file); Sekisho lets every signed-in user through unless \
             [authorization] restricts it",
        ),
    }
    let mut group_list = Vec::new();
    let mut group_from: Vec<&Setting> = Vec::new();
    for g in groups.iter().chain(keycloak_groups.iter()) {
        group_list.extend(g.value.items());
        group_from.push(g);
    }
    if !group_list.is_empty() {
        b.set(
            "authorization",
            "allowed_groups",
            strings(&group_list),
            &group_from,
            &["Keycloak group paths (/admins) match with or without the leading slash"],
        );
    }
    let Some(roles) = roles else {
        return;
    };
    let client_id = b
        .plan
        .entries
        .iter()
        .find(|e| e.section == "oidc" && e.key == "client_id")
        .and_then(|e| e.value.as_str().map(str::to_owned));
    let mut names = Vec::new();
    let mut claims = Vec::new();
    for role in roles.value.items() {
        match role.split_once(':') {
            Some((client, name)) => {
                if Some(client) != client_id.as_deref() {
                    claims.push(format!("resource_access.{client}.roles"));
                }
                names.push(name.to_owned());
            }
            None => names.push(role.clone()),
        }
    }
    if names.is_empty() {
        return;
    }
    if provider.as_deref() != Some("keycloak-oidc") {
        b.warn(
            at(&roles),
            "oauth2-proxy applied allowed_roles with keycloak-oidc only; Sekisho applies them \
             with any provider: they are carried over",
        );
    }
    b.set(
        "authorization",
        "allowed_roles",
        strings(&names),
        &[&roles],
        &["`client:role` is written `role`: Sekisho reads realm roles and the client roles of oidc.roles_claims"],
    );
    b.warn(
        at(&roles),
        "Sekisho puts realm roles and client roles in one list, without oauth2-proxy's \
         `client:` prefix: a realm role named like an allowed client role passes too",
    );
    if !claims.is_empty() {
        let mut all = vec![
            "realm_access.roles".to_owned(),
            "resource_access.{client_id}.roles".to_owned(),
        ];
        claims.dedup();
        all.extend(claims);
        b.set(
            "oidc",
            "roles_claims",
            strings(&all),
            &[&roles],
            &["the roles of the other clients named in allowed_roles"],
        );
    }
    if !group_list.is_empty() {
        b.warn(
            format!("{}, {}", at_all(&group_from), at(&roles)),
            "oauth2-proxy let a user in with one of the allowed groups OR one of the allowed \
             roles; Sekisho requires both: one of allowed_groups AND one of allowed_roles",
        );
    }
}
