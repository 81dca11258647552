//! Checks of documents passed through unchanged: an HTTPRoute ExternalAuth filter or an Envoy
//! Gateway SecurityPolicy that asks an auth service over HTTP without sending `cookie`
//! lets no session through (only Host, Method, Path, Content-Length and Authorization go
//! unlisted), so every signed-in user would be asked to sign in again.

use serde_yaml_ng::Value;

use super::gateway_api::lets_sessions_through;
use super::input::Document;

/// What is wrong with `document`, if it configures external authentication over HTTP.
pub fn check(document: &Document) -> Vec<String> {
    match document.kind() {
        Some("HTTPRoute") => route_filters(&document.value),
        Some("SecurityPolicy") => security_policy(&document.value),
        _ => Vec::new(),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn route_filters(route: &Value) -> Vec<String> {
    let mut findings = Vec::new();
    let rules = route["spec"]["rules"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for (r, rule) in rules.iter().enumerate() {
        let filters = rule["filters"].as_sequence().cloned().unwrap_or_default();
        for (f, filter) in filters.iter().enumerate() {
            let auth = &filter["externalAuth"];
            if filter["type"].as_str() == Some("ExternalAuth")
                && auth["protocol"].as_str() == Some("HTTP")
                && !lets_sessions_through(&strings(auth["http"].get("allowedHeaders")))
            {
                findings.push(format!(
                    "spec.rules[{r}].filters[{f}].externalAuth.http.allowedHeaders does not list \
                     `cookie`: no session reaches the auth service"
                ));
            }
        }
    }
    findings
}

fn security_policy(policy: &Value) -> Vec<String> {
    let ext_auth = &policy["spec"]["extAuth"];
    if ext_auth.get("http").is_some()
        && !lets_sessions_through(&strings(ext_auth.get("headersToExtAuth")))
    {
        return vec![
            "spec.extAuth.headersToExtAuth does not list `cookie`: no session reaches the auth \
             service"
                .to_owned(),
        ];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::input::split;

    fn findings(yaml: &str) -> Vec<String> {
        let mut documents = Vec::new();
        let mut errors = Vec::new();
        split("in.yaml", yaml, &mut documents, &mut errors);
        check(&documents[0])
    }

    #[test]
    fn a_missing_cookie_is_found() {
        let route = "kind: HTTPRoute\nspec:\n  rules:\n  - filters:\n    - type: ExternalAuth\n      externalAuth:\n        protocol: HTTP\n        http:\n          allowedHeaders: [accept]\n";
        assert_eq!(findings(route).len(), 1);
        assert!(findings(route)[0].starts_with("spec.rules[0].filters[0]"));
        assert!(findings(&route.replace("[accept]", "[accept, Cookie]")).is_empty());
        let grpc = route.replace("protocol: HTTP", "protocol: GRPC");
        assert!(findings(&grpc).is_empty());
        let policy =
            "kind: SecurityPolicy\nspec:\n  extAuth:\n    http:\n      path: /oauth2/ext_authz\n";
        assert_eq!(findings(policy).len(), 1);
        assert!(
            findings(&policy.replace(
                "  extAuth:\n",
                "  extAuth:\n    headersToExtAuth: [cookie]\n"
            ))
            .is_empty()
        );
        assert!(findings("kind: ConfigMap\n").is_empty());
    }
}
