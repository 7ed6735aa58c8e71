//! QR codes as inline SVG, drawn on the server: no script, no image request, nothing the
//! console's Content-Security-Policy would block (only presentation attributes, no `style`).

use qrcodegen::{QrCode, QrCodeEcc};

/// Modules of quiet zone around the code, as the QR standard asks.
const QUIET: i32 = 4;

/// `text` as an `<svg>` element, one unit per module, every dark module one `h1v1h-1z` square
/// of a single path; None when the text is too long for any QR code.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let side = size + 2 * QUIET;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{} {}h1v1h-1z", x + QUIET, y + QUIET));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" width=\"{px}\" \
         height=\"{px}\" role=\"img\" aria-label=\"{label}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>",
        px = side * 5,
        label = escape(label),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dark modules back from the path, as a grid of `side` × `side`.
    fn modules(svg: &str) -> (i32, Vec<(i32, i32)>) {
        let side: i32 = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let path = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let squares = path
            .split('M')
            .skip(1)
            .map(|m| {
                let m = m.strip_suffix("h1v1h-1z").unwrap();
                let (x, y) = m.split_once(' ').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        (side, squares)
    }

    #[test]
    fn every_dark_module_is_drawn_inside_a_quiet_zone() {
        let text = "otpauth://totp/Lethe:ada%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=Lethe";
        let svg = svg(text, "QR code <of> the key").unwrap();
        let code = QrCode::encode_text(text, QrCodeEcc::Medium).unwrap();
        let (side, squares) = modules(&svg);
        assert_eq!(side, code.size() + 8);
        let mut expected = Vec::new();
        for y in 0..code.size() {
            for x in 0..code.size() {
                if code.get_module(x, y) {
                    expected.push((x + 4, y + 4));
                }
            }
        }
        assert_eq!(squares, expected);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style") && !svg.contains("<script"));
        assert!(svg.contains("aria-label=\"QR code &lt;of&gt; the key\""));
    }

    #[test]
    fn text_too_long_for_a_qr_code_gives_none() {
        assert!(svg(&"x".repeat(8000), "too long").is_none());
    }
}
