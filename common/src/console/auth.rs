//! Who may use the console, and proof that a form came from the console.
//!
//! Operators are named bearer tokens (`ORDERBRIDGE_CONSOLE_OPERATORS = "ana=TOKEN, ben=TOKEN"`,
//! resolved in AWS from a Secrets Manager secret, never written in the template). A request is
//! let in with `Authorization: Bearer TOKEN`, or with the session cookie the sign-in form sets
//! after the same token was typed there. Tokens are compared as SHA-256 digests in constant time
//! (equal lengths, no early exit), so the comparison leaks neither length nor prefix.
//!
//! The session cookie is `name.expiry.signature` (HMAC-SHA256 under a key derived from every
//! configured token: rotating the tokens ends every session). Forms carry a CSRF token, the HMAC
//! of the session value under the same key, checked on every POST; with the cookie `SameSite=
//! Strict` and `HttpOnly`, another site can neither send a valid form nor read the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "ob_session";
/// How long a sign-in lasts.
const SESSION_HOURS: i64 = 12;
/// Shortest token accepted: guessing must stay out of reach even without rate limits.
const MIN_TOKEN_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("ORDERBRIDGE_CONSOLE_OPERATORS: entry {0} is not `name=token`")]
    Entry(usize),
    #[error(
        "ORDERBRIDGE_CONSOLE_OPERATORS: operator {0:?} has a token shorter than {MIN_TOKEN_LEN} characters (use e.g. `openssl rand -hex 24`)"
    )]
    Short(String),
    #[error("ORDERBRIDGE_CONSOLE_OPERATORS: operator name {0:?} must be 1-32 letters, digits, '.', '_' or '-'")]
    Name(String),
    #[error("ORDERBRIDGE_CONSOLE_OPERATORS names no operator: the console would let nobody in")]
    Empty,
}

struct Operator {
    name: String,
    digest: [u8; 32],
}

/// The configured operators and the session key derived from their tokens.
pub struct Auth {
    operators: Vec<Operator>,
    key: SecretString,
    /// Cookies are `Secure` except on a loopback address (the local console over plain HTTP).
    pub secure_cookies: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.operators.iter().map(|o| o.name.as_str()).collect();
        f.debug_struct("Auth").field("operators", &names).finish_non_exhaustive()
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Auth {
    /// Reads `name=token` pairs separated by commas or new lines.
    pub fn parse(spec: &SecretString, secure_cookies: bool) -> Result<Self, AuthConfigError> {
        let mut operators = Vec::new();
        let mut key =
            Hmac::<Sha256>::new_from_slice(b"orderbridge console session key").expect("HMAC takes keys of any length");
        for (i, entry) in spec.expose_secret().split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (name, token) = entry.split_once('=').ok_or(AuthConfigError::Entry(i + 1))?;
            let (name, token) = (name.trim(), token.trim());
            if name.is_empty()
                || name.len() > 32
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(AuthConfigError::Name(name.to_owned()));
            }
            if token.len() < MIN_TOKEN_LEN {
                return Err(AuthConfigError::Short(name.to_owned()));
            }
            key.update(token.as_bytes());
            key.update(b"\0");
            operators.push(Operator { name: name.to_owned(), digest: digest(token) });
        }
        if operators.is_empty() {
            return Err(AuthConfigError::Empty);
        }
        let key = URL_SAFE_NO_PAD.encode(key.finalize().into_bytes());
        Ok(Self { operators, key: SecretString::from(key), secure_cookies })
    }

    /// The operator a presented token belongs to. Every operator is compared, whatever matches.
    pub fn operator_for_token(&self, presented: &str) -> Option<&str> {
        let presented = digest(presented.trim());
        let mut found = None;
        for operator in &self.operators {
            if bool::from(operator.digest.ct_eq(&presented)) {
                found = Some(operator.name.as_str());
            }
        }
        found
    }

    fn sign(&self, text: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes()).expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn verify(&self, text: &str, signature: &str) -> bool {
        bool::from(self.sign(text).as_bytes().ct_eq(signature.as_bytes()))
    }

    /// A session cookie value for `operator`, valid for twelve hours from `now`.
    pub fn session_value(&self, operator: &str, now: DateTime<Utc>) -> String {
        let body = format!("{operator}.{}", (now + chrono::Duration::hours(SESSION_HOURS)).timestamp());
        let signature = self.sign(&body);
        format!("{body}.{signature}")
    }

    /// The operator of a valid, unexpired session value.
    pub fn session_operator(&self, value: &str, now: DateTime<Utc>) -> Option<String> {
        let (body, signature) = value.rsplit_once('.')?;
        if !self.verify(body, signature) {
            return None;
        }
        let (operator, expires) = body.rsplit_once('.')?;
        let expires = expires.parse::<i64>().ok()?;
        // A session signed by an operator since removed from the list ends with them.
        (now.timestamp() < expires && self.operators.iter().any(|o| o.name == operator)).then(|| operator.to_owned())
    }

    /// The `Set-Cookie` value that starts a session.
    pub fn session_cookie(&self, value: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_HOURS * 3600
        )
    }

    /// The `Set-Cookie` value that ends a session.
    pub fn cleared_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }

    /// The CSRF token of a session: forms carry it, POSTs must present it.
    pub fn csrf_token(&self, session_value: &str) -> String {
        self.sign(&format!("csrf:{session_value}"))
    }

    pub fn csrf_valid(&self, session_value: &str, presented: &str) -> bool {
        self.verify(&format!("csrf:{session_value}"), presented)
    }
}

/// The session cookie's value in a `Cookie` header.
pub fn session_from_cookies(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|c| c.strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let spec = SecretString::from("ana=aaaaaaaaaaaaaaaaaaaaaaaaaaaa, ben = bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        Auth::parse(&spec, true).unwrap()
    }

    #[test]
    fn tokens_name_their_operator_and_nothing_else_gets_in() {
        let auth = auth();
        assert_eq!(auth.operator_for_token("aaaaaaaaaaaaaaaaaaaaaaaaaaaa"), Some("ana"));
        assert_eq!(auth.operator_for_token(" bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb "), Some("ben"));
        assert_eq!(auth.operator_for_token("aaaaaaaaaaaaaaaaaaaaaaaaaaa"), None, "a prefix is not the token");
        assert_eq!(auth.operator_for_token(""), None);
        assert!(!format!("{auth:?}").contains("aaaa"), "Debug never shows a token");
    }

    #[test]
    fn configuration_errors_name_the_problem_without_the_token() {
        let short = Auth::parse(&SecretString::from("ana=short"), true).unwrap_err().to_string();
        assert!(short.contains("\"ana\"") && !short.contains("short,"), "{short}");
        assert!(matches!(Auth::parse(&SecretString::from(" , "), true), Err(AuthConfigError::Empty)));
        assert!(matches!(Auth::parse(&SecretString::from("no-equals-sign"), true), Err(AuthConfigError::Entry(1))));
        assert!(matches!(
            Auth::parse(&SecretString::from("a b=aaaaaaaaaaaaaaaaaaaaaaaaaaaa"), true),
            Err(AuthConfigError::Name(_))
        ));
    }

    #[test]
    fn sessions_expire_and_cannot_be_forged_or_moved_to_another_operator() {
        let auth = auth();
        let now = Utc::now();
        let value = auth.session_value("ana", now);
        assert_eq!(auth.session_operator(&value, now).as_deref(), Some("ana"));
        assert_eq!(auth.session_operator(&value, now + chrono::Duration::hours(13)), None, "expired");
        let forged = value.replacen("ana", "ben", 1);
        assert_eq!(auth.session_operator(&forged, now), None, "signature covers the name");
        let rotated = Auth::parse(&SecretString::from("ana=cccccccccccccccccccccccccccc"), true).unwrap();
        assert_eq!(rotated.session_operator(&value, now), None, "rotating tokens ends sessions");
        assert!(auth.session_cookie(&value).contains("HttpOnly; SameSite=Strict"));
        assert!(auth.session_cookie(&value).ends_with("; Secure"));
        assert_eq!(session_from_cookies(&format!("x=1; {SESSION_COOKIE}={value}; y=2")), Some(value.as_str()));
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let auth = auth();
        let now = Utc::now();
        let ana = auth.session_value("ana", now);
        let ben = auth.session_value("ben", now);
        let token = auth.csrf_token(&ana);
        assert!(auth.csrf_valid(&ana, &token));
        assert!(!auth.csrf_valid(&ben, &token), "another session's token is refused");
        assert!(!auth.csrf_valid(&ana, "forged"));
        assert!(!auth.csrf_valid(&ana, ""));
    }
}
