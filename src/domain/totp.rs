//! Time-based one-time passwords (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of skew,
//! and each step accepted at most once (replay protection, RFC 6238 §5.2).

use totp_rs::{Builder, Secret, Totp};

pub fn generate_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret_b32: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("Lethe"))
        .build()
        .ok()
}

/// The `otpauth://` URL an authenticator app imports.
pub fn provisioning_url(secret_b32: &str, account: &str) -> Option<String> {
    totp(secret_b32, account)?.to_url().ok()
}

/// The matched time step if `code` is valid at `unix_time` and newer than `last_step`.
pub fn verify(secret_b32: &str, code: &str, unix_time: u64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let step = totp(secret_b32, "check")?.check(&code, unix_time)?;
    let step = i64::try_from(step).ok()?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// The current code; for tests and for showing the user what their app should display.
pub fn current_code(secret_b32: &str, unix_time: u64) -> Option<String> {
    Some(totp(secret_b32, "check")?.generate(unix_time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_once() {
        let s = generate_secret();
        let t = 1_800_000_000;
        let code = current_code(&s, t).unwrap();
        let step = verify(&s, &code, t, None).unwrap();
        assert_eq!(
            verify(&s, &code, t, Some(step)),
            None,
            "replayed code accepted"
        );
        assert_eq!(verify(&s, "000000x", t, None), None);
        assert!(
            provisioning_url(&s, "ada@example.org")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
    }
}
