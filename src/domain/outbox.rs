//! Rules of the outbox that need neither SQL nor HTTP.

/// What replaces an e-mail address in a delivery error.
pub const ADDRESS_MASK: &str = "[address]";

/// `text` with every word that holds an `@` (an e-mail address, or the credentials of a URL)
/// replaced by [`ADDRESS_MASK`]. Delivery errors are stored in the clear and shown to everyone
/// who sees the outbox, and SMTP servers echo the recipient in their replies
/// (`550 5.1.1 <a@b.example>: unknown user`).
pub fn mask_addresses(text: &str) -> String {
    // Characters that end an address in an SMTP reply or an error message.
    let is_separator = |c: char| c.is_whitespace() || "<>()[]{},;:\"'`".contains(c);
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str(ADDRESS_MASK);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if is_separator(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_smtp_replies_are_masked_and_the_rest_is_kept() {
        assert_eq!(
            mask_addresses(
                "SMTP: permanent error (550): 5.1.1 <Reader@Example.org>: Recipient address rejected"
            ),
            "SMTP: permanent error (550): 5.1.1 <[address]>: Recipient address rejected"
        );
        assert_eq!(
            mask_addresses("no such user: reader@example.org."),
            "no such user: [address]"
        );
        assert_eq!(
            mask_addresses("error sending request for url (https://u:p@hooks.example/x)"),
            "error sending request for url (https://u:[address])"
        );
        assert_eq!(mask_addresses("HTTP 500"), "HTTP 500");
        assert_eq!(mask_addresses(""), "");
        assert_eq!(mask_addresses("ünïcode ok"), "ünïcode ok");
    }
}
