//! totp
