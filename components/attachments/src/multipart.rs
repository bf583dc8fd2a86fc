//! A streaming `multipart/form-data` parser (RFC 7578 / RFC 2046), sans I/O.
//!
//! No well-kept parser fits here: `multer` needs futures `Bytes` streams and
//! pulls in crates the component does not otherwise use, and it buffers in
//! ways we cannot bound per chunk. This one is fed the body as it arrives
//! (any split, down to one byte at a time) and hands out events through a
//! callback: a part's headers, its data in pieces, its end. It keeps at most
//! one delimiter's length of data plus one header block (bounded by
//! [`HEADER_MAX`]) between calls, so memory does not grow with the body.
//! Every input is hostile: each malformed shape is an [`Error`], never a panic.

/// Largest header block of one part.
pub const HEADER_MAX: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The body ended before the closing delimiter (also: the boundary never
    /// appeared, e.g. a wrong boundary).
    Truncated,
    /// A part's header block is malformed or too long.
    BadHeaders,
}

/// A part's headers as far as uploads need them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// `name` of `Content-Disposition: form-data`.
    pub name: Option<String>,
    /// `filename` (or `filename*`), raw: clean it before use.
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Part(Part),
    Data(&'a [u8]),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (the preamble is ignored).
    Preamble,
    /// Just after a delimiter: `--` ends the body, CRLF starts a part.
    AfterDelimiter,
    Headers,
    Body,
    /// After the closing delimiter (the epilogue is ignored).
    Done,
}

pub struct Parser {
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    skip: [u8; 256],
    /// `\r\n\r\n`, the end of a header block.
    header_end: [u8; 256],
    buf: Vec<u8>,
    state: State,
}

/// The boundary of a `multipart/form-data` content type; `None` when the
/// type is another or the parameter is missing or invalid (RFC 2046: 1 to 70
/// characters).
pub fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("boundary") {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        let ok = !v.is_empty()
            && v.len() <= 70
            && !v.ends_with(' ')
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" '()+_,-./:=?".contains(&b));
        return ok.then(|| v.to_owned());
    }
    None
}

/// First index of `needle` in `hay`: Boyer-Moore-Horspool, so random data
/// is scanned about a delimiter's length at a time instead of byte by byte
/// (the parser's main cost on large files).
fn find(hay: &[u8], needle: &[u8], skip: &[u8; 256]) -> Option<usize> {
    let n = needle.len();
    if n == 0 || hay.len() < n {
        return None;
    }
    let last = needle[n - 1];
    let mut i = 0;
    while i + n <= hay.len() {
        let b = hay[i + n - 1];
        if b == last && hay[i..i + n - 1] == needle[..n - 1] {
            return Some(i);
        }
        i += usize::from(skip[usize::from(b)]);
    }
    None
}

/// Horspool's shift table for `needle` (at most 255 bytes long).
fn skip_table(needle: &[u8]) -> [u8; 256] {
    let n = needle.len();
    let mut t = [n as u8; 256];
    for (i, &b) in needle[..n - 1].iter().enumerate() {
        t[usize::from(b)] = (n - 1 - i) as u8;
    }
    t
}

impl Parser {
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // The first delimiter may open the body without a CRLF before it:
        // start as if one had been read.
        Parser {
            skip: skip_table(&delimiter),
            header_end: skip_table(b"\r\n\r\n"),
            delimiter,
            buf: b"\r\n".to_vec(),
            state: State::Preamble,
        }
    }

    /// Feeds the next bytes of the body; `on` gets the events they complete.
    /// An error from `on` stops parsing and is returned.
    pub fn feed<E: From<Error>>(
        &mut self,
        input: &[u8],
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(input);
        let mut at = 0;
        let result = self.run(&mut at, on);
        self.buf.drain(..at);
        result
    }

    /// The body ended: fine only after the closing delimiter.
    pub fn finish(&self) -> Result<(), Error> {
        if self.state == State::Done {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }

    fn run<E: From<Error>>(
        &mut self,
        at: &mut usize,
        on: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let d = self.delimiter.len();
        loop {
            let rest = &self.buf[*at..];
            match self.state {
                State::Done => {
                    *at = self.buf.len();
                    return Ok(());
                }
                State::Preamble => match find(rest, &self.delimiter, &self.skip) {
                    Some(i) => {
                        *at += i + d;
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        // Keep what could be the start of a delimiter.
                        *at += rest.len().saturating_sub(d - 1);
                        return Ok(());
                    }
                },
                State::AfterDelimiter => {
                    // Transport padding (spaces, tabs) may follow a delimiter.
                    let pad = rest
                        .iter()
                        .take_while(|b| matches!(b, b' ' | b'\t'))
                        .count();
                    let after = &rest[pad..];
                    if after.len() < 2 {
                        if pad > 256 {
                            return Err(Error::BadHeaders.into());
                        }
                        return Ok(());
                    }
                    if after.starts_with(b"--") {
                        self.state = State::Done;
                    } else if after.starts_with(b"\r\n") {
                        *at += pad + 2;
                        self.state = State::Headers;
                    } else {
                        return Err(Error::BadHeaders.into());
                    }
                }
                State::Headers => {
                    // An empty header block is a lone CRLF.
                    let end = if rest.starts_with(b"\r\n") {
                        Some((0, 2))
                    } else {
                        find(rest, b"\r\n\r\n", &self.header_end).map(|i| (i, i + 4))
                    };
                    match end {
                        Some((i, next)) if i <= HEADER_MAX => {
                            let part = parse_headers(&rest[..i])?;
                            *at += next;
                            self.state = State::Body;
                            on(Event::Part(part))?;
                        }
                        Some(_) => return Err(Error::BadHeaders.into()),
                        None if rest.len() > HEADER_MAX + 4 => {
                            return Err(Error::BadHeaders.into());
                        }
                        None => return Ok(()),
                    }
                }
                State::Body => match find(rest, &self.delimiter, &self.skip) {
                    Some(i) => {
                        if i > 0 {
                            on(Event::Data(&rest[..i]))?;
                        }
                        on(Event::End)?;
                        *at += i + d;
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let safe = rest.len().saturating_sub(d - 1);
                        if safe > 0 {
                            on(Event::Data(&rest[..safe]))?;
                            *at += safe;
                        }
                        return Ok(());
                    }
                },
            }
        }
    }
}

/// Parses one part's header block (lines separated by CRLF). Unknown headers
/// are ignored; folded (obsolete) lines and lines without a colon are refused.
fn parse_headers(block: &[u8]) -> Result<Part, Error> {
    let text = std::str::from_utf8(block).map_err(|_| Error::BadHeaders)?;
    let mut part = Part::default();
    if text.is_empty() {
        return Ok(part);
    }
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            return Err(Error::BadHeaders);
        }
        let (name, value) = line.split_once(':').ok_or(Error::BadHeaders)?;
        let name = name.trim();
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(Error::BadHeaders);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            let (n, f) = disposition(value)?;
            part.name = n;
            part.filename = f;
        } else if name.eq_ignore_ascii_case("content-type") {
            part.content_type = Some(value.to_owned());
        }
    }
    Ok(part)
}

/// `form-data; name="file"; filename="a.txt"` -> (name, filename). A
/// `filename*=UTF-8''…` (RFC 5987) wins over `filename`. Quoted strings may
/// hold `;` and backslash escapes; browsers write `"` as `%22` in filenames
/// (HTML's form encoding), which is undone here.
fn disposition(value: &str) -> Result<(Option<String>, Option<String>), Error> {
    let bytes = value.as_bytes();
    let mut i = 0;
    // The disposition type.
    while i < bytes.len() && bytes[i] != b';' {
        i += 1;
    }
    if !value[..i].trim().eq_ignore_ascii_case("form-data") {
        return Err(Error::BadHeaders);
    }
    let (mut name, mut filename, mut filename_star) = (None, None, None);
    while i < bytes.len() {
        // Skip ';' and spaces.
        i += 1;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let key_start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b';') {
            i += 1;
        }
        let key = value[key_start..i].trim().to_ascii_lowercase();
        if i >= bytes.len() || bytes[i] == b';' {
            if key.is_empty() {
                continue;
            }
            return Err(Error::BadHeaders);
        }
        i += 1; // '='
        let val = if bytes.get(i) == Some(&b'"') {
            i += 1;
            let mut out = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(Error::BadHeaders),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        out.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            while i < bytes.len() && bytes[i] != b';' {
                if !matches!(bytes[i], b' ' | b'\t') {
                    return Err(Error::BadHeaders);
                }
                i += 1;
            }
            String::from_utf8(out).map_err(|_| Error::BadHeaders)?
        } else {
            let s = i;
            while i < bytes.len() && bytes[i] != b';' {
                i += 1;
            }
            value[s..i].trim().to_owned()
        };
        match key.as_str() {
            "name" => name = Some(val),
            "filename" => filename = Some(val.replace("%22", "\"")),
            "filename*" => filename_star = ext_value(&val),
            _ => {}
        }
    }
    Ok((name, filename_star.or(filename)))
}

/// RFC 5987 `UTF-8'lang'percent-encoded`; `None` for other charsets or bad
/// encoding.
fn ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let (charset, _lang, enc) = (it.next()?, it.next()?, it.next()?);
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let b = enc.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = enc.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub mod tests {
    use super::*;

    /// Collected events: (part, data) per part.
    #[derive(Debug, Default, PartialEq)]
    pub struct Parts(pub Vec<(Part, Vec<u8>)>);

    /// Parses `body` fed in pieces of `step` bytes (0: all at once).
    pub fn parse(boundary: &str, body: &[u8], step: usize) -> Result<Parts, Error> {
        let mut p = Parser::new(boundary);
        let mut out = Parts::default();
        let mut open = false;
        let mut on = |e: Event<'_>| -> Result<(), Error> {
            match e {
                Event::Part(h) => {
                    assert!(!open, "part inside a part");
                    open = true;
                    out.0.push((h, Vec::new()));
                }
                Event::Data(d) => {
                    assert!(open && !d.is_empty());
                    out.0.last_mut().unwrap().1.extend_from_slice(d);
                }
                Event::End => {
                    assert!(open);
                    open = false;
                }
            }
            Ok(())
        };
        let step = if step == 0 { body.len().max(1) } else { step };
        for piece in body.chunks(step) {
            p.feed(piece, &mut on)?;
        }
        p.finish()?;
        Ok(out)
    }

    pub fn body(boundary: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, data) in files {
            b.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        b
    }

    #[test]
    fn parts_survive_every_split_of_the_body() {
        // Data that looks like a delimiter but is not one, CRs and dashes.
        let tricky: &[u8] = b"a\r\n--bound\r\n--boundar\r\r\n-x--boundary";
        let b = body(
            "boundary",
            &[("a.txt", b"hello"), ("b.bin", tricky), ("z", b"")],
        );
        for step in [0, 1, 2, 3, 5, 7, 13, 64] {
            let parts = parse("boundary", &b, step).unwrap();
            assert_eq!(parts.0.len(), 3, "step {step}");
            assert_eq!(parts.0[0].0.filename.as_deref(), Some("a.txt"));
            assert_eq!(parts.0[0].0.name.as_deref(), Some("file"));
            assert_eq!(parts.0[0].1, b"hello");
            assert_eq!(parts.0[1].1, tricky, "step {step}");
            assert_eq!(parts.0[2].1, b"");
            assert_eq!(
                parts.0[2].0.content_type.as_deref(),
                Some("application/octet-stream")
            );
        }
    }

    #[test]
    fn preamble_epilogue_and_padding_are_ignored() {
        let b = b"junk before\r\n--xyz  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xyz--\r\nepilogue --xyz";
        let parts = parse("xyz", b, 0).unwrap();
        assert_eq!(parts.0.len(), 1);
        assert_eq!(parts.0[0].1, b"1");
        // A part without headers.
        let parts = parse("xyz", b"--xyz\r\n\r\nbare\r\n--xyz--", 1).unwrap();
        assert_eq!(parts.0[0], (Part::default(), b"bare".to_vec()));
    }

    #[test]
    fn truncated_bodies_and_wrong_boundaries_are_errors() {
        let b = body("boundary", &[("a.txt", b"hello world")]);
        for cut in [0, 5, 20, 60, b.len() - 12, b.len() - 4] {
            assert_eq!(
                parse("boundary", &b[..cut], 3).unwrap_err(),
                Error::Truncated,
                "cut {cut}"
            );
        }
        assert_eq!(parse("other", &b, 0).unwrap_err(), Error::Truncated);
        assert_eq!(parse("bound", &b, 0).unwrap_err(), Error::BadHeaders);
        assert!(parse("boundary", &b, 0).is_ok());
    }

    #[test]
    fn header_oddities() {
        let one = |headers: &str| {
            let b = format!("--b\r\n{headers}\r\n\r\ndata\r\n--b--");
            parse("b", b.as_bytes(), 4)
        };
        // Case, spacing, quoting, escapes, semicolons inside quotes, extra params.
        let p = one("content-disposition:form-data;name=file;  FILENAME=\"a;b\\\"c.txt\"; x=1")
            .unwrap();
        assert_eq!(p.0[0].0.filename.as_deref(), Some("a;b\"c.txt"));
        assert_eq!(p.0[0].0.name.as_deref(), Some("file"));
        let p =
            one("Content-Disposition: form-data; name=\"file\"; filename=\"%22q%22.txt\"").unwrap();
        assert_eq!(p.0[0].0.filename.as_deref(), Some("\"q\".txt"));
        let p = one(
            "Content-Disposition: form-data; name=\"file\"; filename=\"fallback.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt",
        )
        .unwrap();
        assert_eq!(p.0[0].0.filename.as_deref(), Some("été.txt"));
        let p = one(
            "Content-Disposition: form-data; name=\"file\"; filename=\"日本.txt\"\r\nX-Other: 1",
        )
        .unwrap();
        assert_eq!(p.0[0].0.filename.as_deref(), Some("日本.txt"));
        for bad in [
            "Content-Disposition: attachment; filename=\"a\"",
            "Content-Disposition: form-data; filename=\"unterminated",
            "Content-Disposition: form-data; filename=\"a\"junk",
            "Content-Disposition: form-data; name",
            "no colon here",
            "Content-Type: text/plain\r\n folded",
            "Bad Name: 1",
        ] {
            assert_eq!(one(bad).unwrap_err(), Error::BadHeaders, "{bad}");
        }
        let huge = format!("X-Big: {}", "a".repeat(HEADER_MAX + 10));
        assert_eq!(one(&huge).unwrap_err(), Error::BadHeaders);
        // An endless header block with no end is refused before it grows.
        let mut p = Parser::new("b");
        let mut on = |_: Event<'_>| -> Result<(), Error> { Ok(()) };
        p.feed(b"--b\r\n", &mut on).unwrap();
        let mut failed = false;
        for _ in 0..100 {
            if p.feed(&[b'a'; 1024], &mut on).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed && p.buf.len() < HEADER_MAX * 2);
    }

    #[test]
    fn memory_stays_bounded_while_streaming() {
        let mut p = Parser::new("boundary");
        let mut seen = 0usize;
        let mut on = |e: Event<'_>| -> Result<(), Error> {
            if let Event::Data(d) = e {
                seen += d.len();
            }
            Ok(())
        };
        p.feed(
            b"--boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n",
            &mut on,
        )
        .unwrap();
        let block = vec![b'\r'; 16 * 1024];
        for _ in 0..64 {
            p.feed(&block, &mut on).unwrap();
            assert!(p.buf.len() < 64);
        }
        p.feed(b"\r\n--boundary--", &mut on).unwrap();
        p.finish().unwrap();
        assert_eq!(seen, 64 * 16 * 1024);
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; BOUNDARY=\"a b:c\"").as_deref(),
            Some("a b:c")
        );
        for bad in [
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=\"\"",
            "multipart/mixed; boundary=abc",
            "application/json",
            "multipart/form-data; boundary=a\u{1}b",
        ] {
            assert_eq!(boundary(bad), None, "{bad}");
        }
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "a".repeat(71))),
            None
        );
    }

    #[test]
    fn find_agrees_with_a_naive_search() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5000 {
            let hay: Vec<u8> = (0..next() % 64)
                .map(|_| b"ab\r\n-"[(next() % 5) as usize])
                .collect();
            let needle: Vec<u8> = (0..1 + next() % 6)
                .map(|_| b"ab\r\n-"[(next() % 5) as usize])
                .collect();
            let naive = hay
                .windows(needle.len())
                .position(|w| w == needle.as_slice());
            assert_eq!(
                find(&hay, &needle, &skip_table(&needle)),
                naive,
                "{hay:?} {needle:?}"
            );
        }
    }

    /// A cheap fuzz: random bodies and splits never panic, and random bytes
    /// after a valid part never become a part of their own without a delimiter.
    #[test]
    fn random_input_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"-\r\nab\"=;: ";
        for _ in 0..2000 {
            let len = (next() % 200) as usize;
            let mut b: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 2 == 0 {
                b.splice(0..0, b"--ab\r\n".iter().copied());
            }
            let step = (next() % 9) as usize;
            let _ = parse("ab", &b, step);
        }
    }
}
