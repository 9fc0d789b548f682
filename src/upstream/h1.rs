//! The HTTP/1.1 wire format on the upstream side: request heads written,
//! response heads parsed, response bodies framed and decoded (RFC 9112).
//!
//! Pure functions and one state machine over a read buffer, with no I/O:
//! [`crate::upstream`] drives them on its connections, inside the task of
//! the client connection it serves. Parsing is httparse's, the same parser
//! hyper uses. Limits: a response head of at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] fields; a chunk-size line of at most 4 KiB.

use std::io;
use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{request, Method, StatusCode, Version};
use hyper::body::{Frame, SizeHint};

/// The largest response head (or trailer section) read from the upstream.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in a response head.
pub const MAX_HEADERS: usize = 100;
/// The longest chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4096;

/// An upstream that broke the protocol: the connection cannot be trusted
/// for anything after it.
pub fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Headers that describe one connection, not the message (RFC 9110 7.6.1),
/// `Upgrade` included: a proxy passes none of them on. A static, not a
/// const: a const array of names is built and dropped at every use.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The origin's word on the visitor's session: `Vestibule-Session: end`
/// ends it. Addressed to vestibule, never passed on to the client.
pub static VESTIBULE_SESSION: HeaderName = HeaderName::from_static("vestibule-session");

/// Left in an answer's extensions when the origin said
/// `Vestibule-Session: end` (the header itself is taken out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEnded;

/// Whether `n` describes the connection rather than the message.
pub fn is_hop_by_hop(n: &HeaderName) -> bool {
    HOP_BY_HOP.contains(n)
}

/// The headers a `Connection` value names, to be left out with it, but for
/// the usual tokens, which name none of their own (or one left out anyway).
pub fn connection_named(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|t| {
        !t.is_empty()
            && !t.eq_ignore_ascii_case(b"keep-alive")
            && !t.eq_ignore_ascii_case(b"close")
            && !t.eq_ignore_ascii_case(b"upgrade")
    })
}

/// How a request's body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`: the length was not known up front
    /// (an HTTP/2 client without `content-length`, or a chunked upload).
    Chunked,
}

impl RequestFraming {
    /// The framing for `body`: none if it is known to have ended, its
    /// length if known, chunked otherwise.
    pub fn of(body: &impl hyper::body::Body) -> RequestFraming {
        match (body.is_end_stream(), body.size_hint().exact()) {
            (true, _) | (false, Some(0)) => RequestFraming::Empty,
            (false, Some(n)) => RequestFraming::Length(n),
            (false, None) => RequestFraming::Chunked,
        }
    }
}

/// The error for a response head over [`MAX_HEAD`].
pub fn head_too_large() -> io::Error {
    invalid(format!("response head over {} KiB", MAX_HEAD / 1024))
}

/// A request head on the wire, and what the exchange needs to know of the
/// request it came from. Made before the exchange starts, so that the
/// request's parsed head (which holds on to the client connection's read
/// buffer) is released at once.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub bytes: Vec<u8>,
    pub framing: RequestFraming,
    /// A HEAD request: the answer has no body whatever it says.
    pub head_request: bool,
    /// The request asks for a protocol upgrade (it keeps its `Upgrade`).
    pub upgrade: bool,
    /// Bodyless and idempotent: sending it twice does no harm.
    pub repeatable: bool,
    /// CONNECT, which is not forwarded.
    pub connect: bool,
    /// How many header fields the client's request had.
    pub fields: usize,
}

impl RequestHead {
    /// The head for `parts`, sent as it is but for the message's own
    /// framing, which `framing` gives.
    pub fn encode(parts: &request::Parts, framing: RequestFraming) -> RequestHead {
        let mut w = HeadWriter::new(parts, 0);
        let mut had_length = false;
        for (name, value) in &parts.headers {
            had_length |= *name == header::CONTENT_LENGTH;
            if *name != header::CONTENT_LENGTH && *name != header::TRANSFER_ENCODING {
                w.field(name.as_str(), value.as_bytes());
            }
        }
        let upgrade = parts.headers.contains_key(header::UPGRADE);
        w.finish(parts, framing, upgrade, had_length)
    }
}

/// A field [`HeadWriter::begin`] started.
pub struct ListField {
    mark: usize,
    start: usize,
}

/// Writes a request head field by field: a proxy rewrites the headers as
/// it writes them, rather than editing a header map first (every insert
/// into hyper's exactly sized map grew it, and each removal is a lookup).
pub struct HeadWriter {
    buf: Vec<u8>,
}

impl HeadWriter {
    /// Starts the head of `parts`' request with its request line, sized
    /// for its fields and `extra` bytes more.
    pub fn new(parts: &request::Parts, extra: usize) -> HeadWriter {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let target = if target.is_empty() { "/" } else { target };
        let fields: usize = parts.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
        // One allocation: no copy as it grows.
        let mut buf = Vec::with_capacity(parts.method.as_str().len() + target.len() + fields + extra + 64);
        buf.extend_from_slice(parts.method.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(target.as_bytes());
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        HeadWriter { buf }
    }

    /// One field. `value` must be a valid field value (one taken from a
    /// `HeaderValue`, or built from them).
    pub fn field(&mut self, name: &str, value: &[u8]) {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Starts a field whose value is written in parts ([`HeadWriter::item`]).
    pub fn begin(&mut self, name: &str) -> ListField {
        let mark = self.buf.len();
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        ListField {
            mark,
            start: self.buf.len(),
        }
    }

    /// One part of `list`'s value, a valid field value; `sep` goes before
    /// all but the first.
    pub fn item(&mut self, list: &ListField, sep: &[u8], part: &[u8]) {
        if self.buf.len() > list.start {
            self.buf.extend_from_slice(sep);
        }
        self.buf.extend_from_slice(part);
    }

    /// Ends `list`; one with no parts at all is taken back.
    pub fn end(&mut self, list: ListField) {
        if self.buf.len() == list.start {
            self.buf.truncate(list.mark);
        } else {
            self.buf.extend_from_slice(b"\r\n");
        }
    }

    /// Ends the head with the body's framing fields. An empty body gets
    /// `Content-Length: 0` where the method implies a body or the client
    /// sent a length, as hyper's client does.
    /// `had_length`: the client sent a `Content-Length`.
    pub fn finish(
        mut self,
        parts: &request::Parts,
        framing: RequestFraming,
        upgrade: bool,
        had_length: bool,
    ) -> RequestHead {
        let buf = &mut self.buf;
        match framing {
            RequestFraming::Empty => {
                if had_length || matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
                    buf.extend_from_slice(b"content-length: 0\r\n");
                }
            }
            RequestFraming::Length(n) => {
                buf.extend_from_slice(b"content-length: ");
                buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                buf.extend_from_slice(b"\r\n");
            }
            RequestFraming::Chunked => buf.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        }
        buf.extend_from_slice(b"\r\n");
        RequestHead {
            bytes: self.buf,
            framing,
            head_request: parts.method == Method::HEAD,
            upgrade,
            repeatable: framing == RequestFraming::Empty && parts.method.is_idempotent(),
            connect: parts.method == Method::CONNECT,
            fields: parts.headers.len(),
        }
    }
}

/// The start of one chunk of a chunked request body: its size in hex and
/// CRLF. At most 16 digits and 2 bytes.
pub fn chunk_size_line(n: usize) -> ([u8; 18], usize) {
    let mut line = [0u8; 18];
    let digits = if n == 0 {
        1
    } else {
        (usize::BITS - n.leading_zeros()).div_ceil(4) as usize
    };
    for (i, digit) in line[..digits].iter_mut().enumerate() {
        let nibble = (n >> (4 * (digits - 1 - i))) & 0xf;
        *digit = b"0123456789abcdef"[nibble];
    }
    line[digits] = b'\r';
    line[digits + 1] = b'\n';
    (line, digits + 2)
}

/// A response's status line and headers, and what its headers say about
/// its framing, gathered as they were parsed.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// `Content-Length`, checked: every value the same number.
    length: Option<u64>,
    /// More than one length value (all equal): rewritten to one.
    length_repeated: bool,
    /// `Transfer-Encoding` present, and whether its last coding is chunked.
    chunked: Option<bool>,
    /// `Connection: close`.
    close: bool,
    /// The origin said `Vestibule-Session: end`.
    pub ends_session: bool,
}

/// Parses the response head at the start of `buf` and takes it off, with
/// the header values sharing the read buffer's memory. Hop-by-hop headers,
/// and any the `Connection` header names, are noted for the framing and
/// left out (but for a 101 answer's: the client needs them), since the
/// pool is a proxy's. `Ok(None)`: not all of it has arrived.
///
/// The header map has room for `fields` at least (up to [`MAX_HEADERS`]):
/// hyper's HTTP/1 server keeps a response's map, once written, for the
/// next request's headers on its connection, and growing it then costs a
/// reallocation. The client's request is the best guess at the size of
/// its next one.
pub fn parse_response_head(buf: &mut BytesMut, fields: usize) -> io::Result<Option<ResponseHead>> {
    // Where each name and value lies in `buf`, recorded while httparse's
    // view borrows it, and used once the head is split off.
    let mut at = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let (len, code, minor, count) = {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(false)
            .parse_response_with_uninit_headers(&mut res, buf, &mut slots)
        {
            Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
            Ok(httparse::Status::Complete(_)) => return Err(head_too_large()),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(invalid(format!("response head has more than {MAX_HEADERS} fields")))
            }
            Err(e) => return Err(invalid(format!("malformed response head: {e}"))),
        };
        let base = buf.as_ptr() as usize;
        for (slot, h) in at.iter_mut().zip(res.headers.iter()) {
            let name = h.name.as_ptr() as usize - base;
            let value = h.value.as_ptr() as usize - base;
            // Every offset is within a head of at most MAX_HEAD bytes.
            *slot = (
                name as u32,
                (name + h.name.len()) as u32,
                value as u32,
                (value + h.value.len()) as u32,
            );
        }
        let code = res.code.unwrap_or(0);
        (len, code, res.version.unwrap_or(1), res.headers.len())
    };
    let status = StatusCode::from_u16(code).map_err(|_| invalid(format!("invalid status code {code}")))?;
    let version = if minor == 0 { Version::HTTP_10 } else { Version::HTTP_11 };
    let head = buf.split_to(len).freeze();
    let mut parsed = ResponseHead {
        status,
        version,
        headers: HeaderMap::with_capacity(count.max(fields.min(MAX_HEADERS))),
        length: None,
        length_repeated: false,
        chunked: None,
        close: false,
        ends_session: false,
    };
    // A 101 answer keeps all its headers, as before the pool parsed its
    // own: the client needs `Connection` and `Upgrade` to switch.
    let strip = status != StatusCode::SWITCHING_PROTOCOLS;
    let mut named = false;
    for &(n0, n1, v0, v1) in &at[..count] {
        let name = HeaderName::from_bytes(&head[n0 as usize..n1 as usize])
            .map_err(|_| invalid("invalid header name in response"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v0 as usize..v1 as usize))
            .map_err(|_| invalid("invalid header value in response"))?;
        parsed.note_framing(&name, value.as_bytes())?;
        if name == VESTIBULE_SESSION {
            parsed.ends_session |= value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"end");
            continue;
        }
        if strip && is_hop_by_hop(&name) {
            named |= name == header::CONNECTION && connection_named(value.as_bytes()).next().is_some();
            continue;
        }
        parsed.headers.append(name, value);
    }
    if named {
        // Rare: a `Connection` that names headers of the message's own.
        for &(n0, n1, v0, v1) in &at[..count] {
            if head[n0 as usize..n1 as usize].eq_ignore_ascii_case(b"connection") {
                for t in connection_named(&head[v0 as usize..v1 as usize]) {
                    if let Ok(n) = HeaderName::from_bytes(t) {
                        parsed.headers.remove(n);
                    }
                }
            }
        }
    }
    Ok(Some(parsed))
}

impl ResponseHead {
    /// Takes note of a header that bears on framing.
    fn note_framing(&mut self, name: &HeaderName, value: &[u8]) -> io::Result<()> {
        if *name == header::CONTENT_LENGTH {
            for part in value.split(|&b| b == b',') {
                let n = std::str::from_utf8(part.trim_ascii())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| invalid("invalid content-length in response"))?;
                match self.length {
                    Some(l) if l != n => return Err(invalid("conflicting content-lengths in response")),
                    Some(_) => self.length_repeated = true,
                    None => self.length = Some(n),
                }
            }
        } else if *name == header::TRANSFER_ENCODING {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            self.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if *name == header::CONNECTION {
            self.close |= value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        Ok(())
    }
}

/// How a response's body is framed (RFC 9112 6.3), and whether its
/// connection can carry another exchange once the body has been read.
/// Leaves one clear length for the client: a `Content-Length` that chunked
/// framing overrides is removed, a repeated one written once.
pub fn response_framing(head_request: bool, head: &mut ResponseHead) -> (Decoder, bool) {
    let keep_alive = head.version == Version::HTTP_11 && !head.close;
    let status = head.status;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return (Decoder::Upgrade, false);
    }
    // One length for the client, whatever the framing (a HEAD or 304
    // answer's length is the client's to read too).
    if let (Some(n), true) = (head.length, head.length_repeated) {
        head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return (Decoder::Length(0), keep_alive);
    }
    if let Some(chunked) = head.chunked {
        // A length beside chunked framing is wrong and ignored; leaving it
        // would let the client read the body by a different rule.
        if head.length.is_some() {
            head.headers.remove(header::CONTENT_LENGTH);
        }
        return if chunked {
            (Decoder::Chunked(Chunk::Size), keep_alive)
        } else {
            (Decoder::UntilClose, false)
        };
    }
    match head.length {
        Some(n) => (Decoder::Length(n), keep_alive),
        None => (Decoder::UntilClose, false),
    }
}

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes left.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last chunk: trailer fields, then an empty line.
    Trailers,
    /// All read.
    Done,
}

/// Parses a chunk-size line (RFC 9112 7.1): hex digits, then optional
/// extensions (skipped), then CRLF. Strict, as hyper's decoder is: an empty
/// size, more than 16 digits, a bare LF or a control byte are errors, since
/// a lenient reading is how two parsers come to disagree on where a body
/// ends. `Ok(None)`: the line is not complete.
fn chunk_size(buf: &[u8]) -> io::Result<Option<(usize, u64)>> {
    let bad = || invalid("invalid chunk size line in response");
    let Some(lf) = memchr::memchr(b'\n', buf) else {
        return if buf.len() >= MAX_CHUNK_LINE {
            Err(bad())
        } else {
            Ok(None)
        };
    };
    if lf == 0 || buf[lf - 1] != b'\r' || lf > MAX_CHUNK_LINE {
        return Err(bad());
    }
    let line = &buf[..lf - 1];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(bad());
    }
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') || rest.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return Err(bad());
    }
    let size = line[..digits].iter().fold(0u64, |n, &d| {
        (n << 4) | u64::from((d as char).to_digit(16).unwrap_or(0))
    });
    Ok(Some((lf + 1, size)))
}

/// Reads a response body out of the connection's read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// This many bytes left.
    Length(u64),
    Chunked(Chunk),
    /// Everything until the upstream closes (no length given).
    UntilClose,
    /// A 101 answer: the connection now belongs to the upgraded protocol.
    Upgrade,
}

/// What one step of a [`Decoder`] gave.
#[derive(Debug)]
pub enum Decoded {
    Frame(Frame<Bytes>),
    /// Nothing more can be decoded from what the buffer holds.
    NeedMore,
    /// The body is complete.
    End,
}

impl Decoder {
    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Decoder::Length(0) | Decoder::Chunked(Chunk::Done) | Decoder::Upgrade
        )
    }

    pub fn size_hint(&self) -> SizeHint {
        match *self {
            Decoder::Length(n) => SizeHint::with_exact(n),
            Decoder::Upgrade | Decoder::Chunked(Chunk::Done) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }

    /// How many bytes the decoder would like to read next, as a hint for
    /// the size of the read.
    pub fn wants(&self) -> usize {
        match *self {
            Decoder::Length(n) | Decoder::Chunked(Chunk::Data(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => 0,
        }
    }

    /// Takes the next frame off `buf`. Data frames share the buffer's
    /// memory.
    pub fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Decoded> {
        loop {
            match self {
                Decoder::Length(0) | Decoder::Chunked(Chunk::Done) | Decoder::Upgrade => return Ok(Decoded::End),
                Decoder::Length(left) | Decoder::Chunked(Chunk::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = (*left).min(buf.len() as u64);
                    *left -= take;
                    let data = buf.split_to(take as usize).freeze();
                    if *self == Decoder::Chunked(Chunk::Data(0)) {
                        *self = Decoder::Chunked(Chunk::DataEnd);
                    }
                    return Ok(Decoded::Frame(Frame::data(data)));
                }
                Decoder::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    return Ok(Decoded::Frame(Frame::data(buf.split().freeze())));
                }
                Decoder::Chunked(Chunk::Size) => match chunk_size(buf)? {
                    Some((used, size)) => {
                        buf.advance(used);
                        *self = Decoder::Chunked(if size == 0 { Chunk::Trailers } else { Chunk::Data(size) });
                    }
                    None => return Ok(Decoded::NeedMore),
                },
                Decoder::Chunked(Chunk::DataEnd) => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(invalid("chunk data longer than its size in response"));
                    }
                    buf.advance(2);
                    *self = Decoder::Chunked(Chunk::Size);
                }
                Decoder::Chunked(Chunk::Trailers) => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    match httparse::parse_headers(buf, &mut fields) {
                        Ok(httparse::Status::Complete((used, fields))) => {
                            let mut trailers = HeaderMap::with_capacity(fields.len());
                            for f in fields {
                                let name = HeaderName::from_bytes(f.name.as_bytes())
                                    .map_err(|_| invalid("invalid trailer name in response"))?;
                                let value = HeaderValue::from_bytes(f.value)
                                    .map_err(|_| invalid("invalid trailer value in response"))?;
                                // Addressed to vestibule, and too late to act
                                // on in a trailer: never passed on.
                                if name != VESTIBULE_SESSION {
                                    trailers.append(name, value);
                                }
                            }
                            buf.advance(used);
                            *self = Decoder::Chunked(Chunk::Done);
                            if trailers.is_empty() {
                                return Ok(Decoded::End);
                            }
                            return Ok(Decoded::Frame(Frame::trailers(trailers)));
                        }
                        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(Decoded::NeedMore),
                        Ok(httparse::Status::Partial) => return Err(invalid("trailer section too large in response")),
                        Err(e) => return Err(invalid(format!("malformed trailers in response: {e}"))),
                    }
                }
            }
        }
    }

    /// The upstream closed the connection: the end of a body read until
    /// close, and an error for any other not yet complete.
    pub fn closed(&mut self) -> io::Result<()> {
        match self {
            Decoder::UntilClose => {
                *self = Decoder::Length(0);
                Ok(())
            }
            _ if self.is_done() => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the upstream closed the connection before the body ended",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn head_of(raw: &str) -> ResponseHead {
        let mut buf = BytesMut::from(raw);
        let head = parse_response_head(&mut buf, 0).unwrap().unwrap();
        assert!(buf.is_empty(), "the head is taken off");
        head
    }

    fn framing_of(raw: &str, head_request: bool) -> (Decoder, bool) {
        response_framing(head_request, &mut head_of(raw))
    }

    /// Decodes `wire` fed `step` bytes at a time, as reads might deliver it.
    fn decode_all(mut d: Decoder, wire: &[u8], step: usize) -> io::Result<(Vec<u8>, Option<HeaderMap>, usize)> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut trailers = None;
        let mut fed = 0;
        loop {
            match d.decode(&mut buf)? {
                Decoded::Frame(f) => match f.into_data() {
                    Ok(data) => body.extend_from_slice(&data),
                    Err(f) => trailers = f.into_trailers().ok(),
                },
                Decoded::End => return Ok((body, trailers, buf.len())),
                Decoded::NeedMore if fed == wire.len() => {
                    d.closed()?;
                }
                Decoded::NeedMore => {
                    let n = step.min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn request_heads_carry_the_framing_the_body_has() {
        let req = http::Request::post("/form?x=1")
            .header("host", "up")
            .header("content-length", "999")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let text = |f| String::from_utf8(RequestHead::encode(&parts, f).bytes).unwrap();
        assert_eq!(
            text(RequestFraming::Length(12)),
            "POST /form?x=1 HTTP/1.1\r\nhost: up\r\ncontent-length: 12\r\n\r\n"
        );
        assert!(text(RequestFraming::Chunked).ends_with("host: up\r\ntransfer-encoding: chunked\r\n\r\n"));
        assert!(text(RequestFraming::Empty).ends_with("content-length: 0\r\n\r\n"));
        let post = RequestHead::encode(&parts, RequestFraming::Empty);
        assert!(!post.repeatable && !post.head_request && !post.upgrade);
        let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        let get = RequestHead::encode(&parts, RequestFraming::Empty);
        assert_eq!(get.bytes, b"GET / HTTP/1.1\r\n\r\n");
        assert!(get.repeatable);
        let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        assert!(
            !RequestHead::encode(&parts, RequestFraming::Chunked).repeatable,
            "a body is not kept to repeat"
        );
    }

    #[test]
    fn chunk_size_lines_are_lowercase_hex() {
        for n in [0usize, 1, 9, 10, 15, 16, 255, 4096, 65_535, 1 << 40, usize::MAX] {
            let (line, len) = chunk_size_line(n);
            assert_eq!(std::str::from_utf8(&line[..len]).unwrap(), format!("{n:x}\r\n"));
        }
    }

    #[test]
    fn a_head_is_parsed_with_its_values_intact() {
        let head = head_of("HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Raw: J\u{fc}rgen\r\n\r\n");
        assert_eq!(head.status, 201);
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(head.headers["x-raw"].as_bytes(), "J\u{fc}rgen".as_bytes());
        let mut partial = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Le");
        assert!(parse_response_head(&mut partial, 0).unwrap().is_none());
        assert_eq!(partial.len(), 27, "nothing taken from a partial head");
        for bad in [
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            "SMTP ready\r\n\r\n",
        ] {
            let e = parse_response_head(&mut BytesMut::from(bad), 0).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
        let big = format!("HTTP/1.1 200 OK\r\nx-big: {}\r\n\r\n", "y".repeat(MAX_HEAD));
        let e = parse_response_head(&mut BytesMut::from(big.as_str()), 0).unwrap_err();
        assert!(
            e.to_string().contains("over 64 KiB"),
            "a head read whole is held to the limit too: {e}"
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        let e = parse_response_head(
            &mut BytesMut::from(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_str()),
            0,
        )
        .unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
    }

    #[test]
    fn hop_by_hop_headers_are_left_out_of_answers_but_a_101() {
        let head = head_of(
            "HTTP/1.1 200 OK\r\nx-secret: 1\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\n\
             Upgrade: h2c\r\nProxy-Connection: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
        );
        let names: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["content-type"]);
        assert_eq!(head.chunked, Some(true), "noted for the framing before it went");
        let head = head_of("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!(head.headers.len(), 2, "the client needs them to switch");
    }

    #[test]
    fn the_origin_s_word_on_the_session_is_taken_out() {
        for (value, ends) in [("end", true), (" END ", true), ("keep", false), ("endless", false)] {
            let head = head_of(&format!(
                "HTTP/1.1 200 OK\r\nVestibule-Session: {value}\r\nContent-Type: text/plain\r\n\r\n"
            ));
            assert_eq!(head.ends_session, ends, "{value:?}");
            let names: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
            assert_eq!(names, ["content-type"], "never passed on");
        }
        assert!(!head_of("HTTP/1.1 200 OK\r\n\r\n").ends_session);
        // Nor in a trailer, where it is too late to act on.
        let wire = b"2\r\nok\r\n0\r\nVestibule-Session: end\r\nx-sum: 1\r\n\r\n";
        let (body, trailers, _) = decode_all(Decoder::Chunked(Chunk::Size), wire, 5).unwrap();
        assert_eq!(body, b"ok");
        let trailers = trailers.unwrap();
        assert_eq!(trailers.keys().map(|n| n.as_str()).collect::<Vec<_>>(), ["x-sum"]);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        for (raw, want) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                (Decoder::Length(5), true),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
                (Decoder::Length(5), true),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                (Decoder::Chunked(Chunk::Size), true),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                (Decoder::UntilClose, false),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", (Decoder::UntilClose, false)),
            ("HTTP/1.1 204 No Content\r\n\r\n", (Decoder::Length(0), true)),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                (Decoder::Length(0), true),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: x, Close\r\n\r\n",
                (Decoder::Length(9), false),
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n",
                (Decoder::Length(9), false),
            ),
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                (Decoder::Upgrade, false),
            ),
        ] {
            assert_eq!(framing_of(raw, false), want, "{raw:?}");
        }
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
            (Decoder::Length(0), true),
            "the answer to HEAD has no body whatever its length says"
        );
        let mut both = head_of("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(response_framing(false, &mut both).0, Decoder::Chunked(Chunk::Size));
        assert!(
            !both.headers.contains_key("content-length"),
            "chunked overrides the length"
        );
        let mut twice = head_of("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(response_framing(false, &mut twice).0, Decoder::Length(5));
        let lengths: Vec<_> = twice.headers.get_all("content-length").iter().collect();
        assert_eq!(lengths, ["5"], "one length goes on");
        // An answer without a body has its repeated length folded to one too.
        for status in ["204 No Content", "304 Not Modified"] {
            let mut bodiless = head_of(&format!(
                "HTTP/1.1 {status}\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\n"
            ));
            assert_eq!(response_framing(false, &mut bodiless).0, Decoder::Length(0));
            let lengths: Vec<_> = bodiless.headers.get_all("content-length").iter().collect();
            assert_eq!(lengths, ["5"], "{status}: one length goes on");
        }
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            let e = parse_response_head(&mut BytesMut::from(bad), 0).unwrap_err();
            assert!(e.to_string().contains("content-length"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn bodies_decode_the_same_however_the_bytes_arrive() {
        let chunked = b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-sum: 7\r\n\r\nNEXT";
        let plain = b"hello worldNEXT";
        for step in [1, 2, 3, 7, 64] {
            let (body, trailers, left) = decode_all(Decoder::Chunked(Chunk::Size), chunked, step).unwrap();
            assert_eq!(body, b"hello world", "step {step}");
            assert_eq!(trailers.unwrap()["x-sum"], "7");
            assert!(left <= 4, "the next response's bytes are left alone");
            let (body, _, _) = decode_all(Decoder::Length(11), plain, step).unwrap();
            assert_eq!(body, b"hello world");
            let (body, _, _) = decode_all(Decoder::UntilClose, plain, step).unwrap();
            assert_eq!(body, plain);
        }
        let (body, trailers, left) = decode_all(Decoder::Chunked(Chunk::Size), b"0\r\n\r\n", 1).unwrap();
        assert!(body.is_empty() && trailers.is_none() && left == 0);
    }

    #[test]
    fn broken_bodies_are_errors() {
        for (d, wire) in [
            (Decoder::Length(11), &b"hello"[..]),
            (Decoder::Chunked(Chunk::Size), b"5\r\nhello"),
            (Decoder::Chunked(Chunk::Size), b"5\r\nhello world\r\n0\r\n\r\n"),
            (Decoder::Chunked(Chunk::Size), b"zz\r\nhello\r\n"),
            (Decoder::Chunked(Chunk::Size), b"0\r\nbad trailer\r\n\r\n"),
            // Lenient readings hyper's decoder refuses too.
            (Decoder::Chunked(Chunk::Size), b"\r\nhello\r\n0\r\n\r\n"),
            (Decoder::Chunked(Chunk::Size), b" \r\n"),
            (Decoder::Chunked(Chunk::Size), b"5\nhello\r\n0\r\n\r\n"),
            (Decoder::Chunked(Chunk::Size), b"5;a\nb\r\nhello\r\n0\r\n\r\n"),
            (Decoder::Chunked(Chunk::Size), b"5 x\r\nhello\r\n0\r\n\r\n"),
            (Decoder::Chunked(Chunk::Size), b"11111111111111111\r\n"),
        ] {
            assert!(decode_all(d, wire, 3).is_err(), "{:?}", String::from_utf8_lossy(wire));
        }
        let endless = vec![b'1'; MAX_CHUNK_LINE + 1];
        assert!(decode_all(Decoder::Chunked(Chunk::Size), &endless, 1024).is_err());
    }
}
