//! What a client says about a file, made safe: its name (no path, no control
//! or direction-changing characters), its content type (a plain `type/subtype`
//! or `application/octet-stream`), the `Content-Disposition` that names it on
//! download (RFC 6266 with an RFC 5987 `filename*` so non-ASCII names
//! survive), and the single `Range` a download honours.

/// Longest stored name, in bytes.
pub const FILENAME_MAX: usize = 255;

/// Characters that change how text is displayed without being seen: bidi
/// overrides and isolates (a name like `invoice\u{202E}fdp.exe` reads
/// `invoiceexe.pdf`), zero-width marks, the BOM.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// The stored name of an uploaded file: the last path part (either slash),
/// without control or invisible characters, trimmed of spaces and dots at
/// the ends (no hidden files, no `..`), at most [`FILENAME_MAX`] bytes with
/// the extension kept. Empty results become `file`.
pub fn clean_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let kept: String = last
        .chars()
        .filter(|c| !c.is_control() && !invisible(*c))
        .collect();
    let mut name = kept.trim_matches([' ', '.']).to_owned();
    if name.len() > FILENAME_MAX {
        let ext = match name.rfind('.') {
            Some(i) if name.len() - i <= 16 => name[i..].to_owned(),
            _ => String::new(),
        };
        let mut cut = FILENAME_MAX - ext.len();
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        // The cut may end the name on a dot or a space: trim again, or a
        // long name would be stored as `…aaa.` (found with the fuzz
        // target multipart's clean-name property).
        let kept = name.trim_end_matches([' ', '.']).len();
        name.truncate(kept);
        name.push_str(&ext);
    }
    if name.is_empty() {
        "file".to_owned()
    } else {
        name
    }
}

/// The stored content type: the part's `type/subtype`, lowercased, without
/// parameters; anything else is `application/octet-stream`.
pub fn clean_content_type(raw: Option<&str>) -> String {
    let essence = raw
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, s)) if token(t) && token(s) => essence,
        _ => "application/octet-stream".to_owned(),
    }
}

/// Types a browser may show inline (the `?inline=1` preview): raster images
/// only, never HTML or SVG (which can run script).
pub fn inline_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`.
/// The ASCII fallback replaces what a quoted string cannot carry safely.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        // RFC 5987 attr-char.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// What a `Range` header asks of a `size`-byte file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// No usable range (absent, malformed, several ranges): the whole file.
    Full,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A well-formed range outside the file: 416.
    Unsatisfiable,
}

/// RFC 9110 single byte ranges: `bytes=a-b`, `bytes=a-`, `bytes=-n`.
/// Several ranges are served as the whole file (allowed, and simpler than
/// multipart/byteranges).
pub fn parse_range(header: Option<&str>, size: u64) -> Range {
    let Some(h) = header else {
        return Range::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if size == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => Range::Full,
        },
        (s, e) => {
            let Some(start) = num(s) else {
                return Range::Full;
            };
            let end = if e.is_empty() {
                None
            } else {
                match num(e) {
                    Some(end) if end >= start => Some(end),
                    _ => return Range::Full,
                }
            };
            if start >= size {
                return Range::Unsatisfiable;
            }
            Range::Part {
                start,
                end: end.unwrap_or(size - 1).min(size - 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_cut_at_a_dot_or_space_ends_clean() {
        // The fuzz target multipart's input: one part whose 275-byte name
        // has a dot at byte 255 and no short extension.
        let body = include_bytes!("../testdata/fuzz/multipart-long-name-cut-at-a-dot");
        let mut parser = crate::multipart::Parser::new("XyZ");
        let mut names = Vec::new();
        parser
            .feed(
                &body[1..],
                &mut |e| -> Result<(), crate::multipart::Error> {
                    if let crate::multipart::Event::Part(p) = e {
                        names.push(clean_filename(p.filename.as_deref().unwrap_or("")));
                    }
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(names, vec!["a".repeat(254)]);
        let spaced = format!("{} {}", "a".repeat(254), "b".repeat(20));
        assert_eq!(clean_filename(&spaced), "a".repeat(254));
        // A short extension is still kept.
        let ext = format!("{}. .pdf", "a".repeat(300));
        assert_eq!(clean_filename(&ext), format!("{}.pdf", "a".repeat(251)));
    }

    #[test]
    fn filenames_lose_paths_controls_and_tricks() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(clean_filename(".."), "file");
        assert_eq!(clean_filename("dir/"), "file");
        assert_eq!(clean_filename(".bashrc"), "bashrc");
        assert_eq!(clean_filename("a\r\nb\u{0}c\u{7f}.txt"), "abc.txt");
        assert_eq!(clean_filename("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(
            clean_filename("  résumé été 日本.pdf  "),
            "résumé été 日本.pdf"
        );
        assert_eq!(clean_filename(""), "file");
        let long = format!("{}.xlsx", "é".repeat(300));
        let c = clean_filename(&long);
        assert!(c.len() <= FILENAME_MAX && c.ends_with(".xlsx"), "{c}");
    }

    #[test]
    fn content_types_are_plain_or_octet_stream() {
        assert_eq!(clean_content_type(Some("Image/PNG")), "image/png");
        assert_eq!(
            clean_content_type(Some("text/html; charset=utf-8")),
            "text/html"
        );
        for bad in [
            None,
            Some(""),
            Some("text"),
            Some("a/b/c"),
            Some("te xt/html"),
            Some("x/\"y\""),
        ] {
            assert_eq!(clean_content_type(bad), "application/octet-stream");
        }
        assert!(inline_image("image/png") && !inline_image("image/svg+xml"));
        assert!(!inline_image("text/html"));
    }

    #[test]
    fn dispositions_carry_ascii_and_utf8_names() {
        assert_eq!(
            content_disposition("attachment", "a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition("attachment", "été \"x\".pdf"),
            "attachment; filename=\"_t_ _x_.pdf\"; filename*=UTF-8''%C3%A9t%C3%A9%20%22x%22.pdf"
        );
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let p = |h: &str, size| parse_range(Some(h), size);
        assert_eq!(parse_range(None, 10), Range::Full);
        assert_eq!(p("bytes=0-4", 10), Range::Part { start: 0, end: 4 });
        assert_eq!(p("bytes=5-", 10), Range::Part { start: 5, end: 9 });
        assert_eq!(p("bytes=5-100", 10), Range::Part { start: 5, end: 9 });
        assert_eq!(p("bytes=-3", 10), Range::Part { start: 7, end: 9 });
        assert_eq!(p("bytes=-30", 10), Range::Part { start: 0, end: 9 });
        assert_eq!(p("bytes=10-", 10), Range::Unsatisfiable);
        assert_eq!(p("bytes=-0", 10), Range::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Range::Unsatisfiable);
        for ignored in [
            "bytes=0-1,3-4",
            "bytes=5-2",
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(p(ignored, 10), Range::Full, "{ignored}");
        }
    }
}
